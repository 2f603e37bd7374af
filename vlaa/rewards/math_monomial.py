"""Math-Verify's verdict on a plain number against prose, decided without sympy's simplifier.

Prose answers ("I think it is seven") parse to long products of Symbols, which sympy's
``simplify`` is slow to compare with a number; the verdict is known in advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

# Math-Verify's ``verify`` is true when any (gold, answer) pair of parsed alternatives matches.
# A pair of strings matches when equal after ``strip`` (and not empty); a string and a sympy
# object never match. For a plain number (``Integer``/``Rational``/``Float``) against a
# non-constant monomial, a product and powers of Symbols times a non-zero constant (prose such
# as "I think it is seven" parses to ``E**2*I*h*i**3*...``), Math-Verify's ``sympy_expr_eq``
# (strict, the default) takes these branches, and none can find them equal except the last:
#   - no assignment or equation unwrapping (neither side is ``Eq``/``And``); no set, interval,
#     relation or matrix branch (neither side is one);
#   - ``sympy_str_eq``: ``number == monomial`` is structurally false (the number is not
#     nan/zoo, so it does not raise);
#   - a Mul/Pow answer goes to ``sympy_numeric_eq``: with a Float, ``round`` of a symbolic
#     expression raises and is caught (false); two Integers, no (the answer is none); else
#     ``doit()`` of each compared structurally, and evaluating a non-constant expression never
#     gives a number; then ``sympy_symbolic_eq``: ``simplify(number - monomial).is_zero``,
#     never true since the difference is not constant (the exponents of some Symbol do not sum
#     to zero, and the coefficient is a finite non-zero constant, so e.g. ``0*x``, ``x/x``
#     and ``x^0`` are excluded; an unevaluated product is summed over all its factors);
#   - a bare Symbol answer goes to ``sympy_compare_symbols``, whose only applicable branch is
#     ``str(gold) == str(pred)``: ``\text{7}`` parses to ``Symbol('7')`` and equals ``7``.
# ``_verify_without_sympy`` returns that verdict, or ``None`` when any pair of sympy objects is
# of another shape: then Math-Verify decides. tests/rewards/test_rewards_math_fastpath.py checks it
# against plain Math-Verify on prose, words, symbols and units against numeric ground truths.


def _constant_factor(expr: Any) -> bool:
    """A finite non-zero constant: a number, ``E``, ``pi`` or ``I``, or an integer power of one."""
    from sympy import Float, Integer, Pow, Rational, S

    if isinstance(expr, Rational | Float):
        return bool(expr != 0)
    if expr is S.Exp1 or expr is S.Pi or expr is S.ImaginaryUnit:
        return True
    return isinstance(expr, Pow) and isinstance(expr.exp, Integer) and _constant_factor(expr.base)


def _add_exponents(expr: Any, exponents: dict[Any, Fraction]) -> bool:
    """Add each Symbol's exponent in the product ``expr``; false if it is not such a product."""
    from sympy import Mul, Pow, Rational, Symbol

    if type(expr) is Symbol:
        exponents[expr] = exponents.get(expr, Fraction(0)) + 1
        return True
    if isinstance(expr, Pow) and type(expr.base) is Symbol and isinstance(expr.exp, Rational):
        power = Fraction(int(expr.exp.p), int(expr.exp.q))
        exponents[expr.base] = exponents.get(expr.base, Fraction(0)) + power
        return True
    if isinstance(expr, Mul):
        return all(_add_exponents(arg, exponents) for arg in expr.args)
    return _constant_factor(expr)


def _nonconstant_monomial(expr: Any) -> bool:
    """``expr`` is a non-zero constant times Symbols to rational powers, not all cancelling."""
    from sympy import Mul, Pow, Symbol

    if not (type(expr) is Symbol or isinstance(expr, Mul | Pow)):
        return False
    exponents: dict[Any, Fraction] = {}
    if not _add_exponents(expr, exponents):
        return False
    return any(power != 0 for power in exponents.values())


def _verify_without_sympy(gold: Sequence[Any], target: Sequence[Any]) -> bool | None:
    """Math-Verify's ``verify(gold, target)`` where decided without sympy, else ``None``.

    See the comment above: string pairs compare stripped, string-sympy pairs never match, and a
    plain number against a non-constant monomial matches only a Symbol named as the number
    prints.
    """
    from sympy import Basic, Float, Rational, Symbol
    from sympy.matrices import MatrixBase

    for gold_item in gold:
        for target_item in target:
            if isinstance(gold_item, str) and isinstance(target_item, str):
                gold_text, target_text = gold_item.strip(), target_item.strip()
                if gold_text and gold_text == target_text:
                    return True
            elif isinstance(gold_item, Basic | MatrixBase) and isinstance(
                target_item, Basic | MatrixBase
            ):
                if not isinstance(gold_item, Rational | Float):
                    return None
                if not _nonconstant_monomial(target_item):
                    return None
                if type(target_item) is Symbol and str(gold_item) == str(target_item):
                    return True
    return False
