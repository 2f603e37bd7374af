"""Math-Verify's verdict on common parsed shapes, decided without sympy's simplify or solve.

Math-Verify's ``verify`` spends milliseconds in ``simplify`` and ``solve`` on shapes whose verdict
is known in advance. ``verify_shortcut`` decides these, and returns ``None`` (Math-Verify decides)
for anything else. Per pair of parsed alternatives, following ``sympy_expr_eq`` (strict):
  - equal objects: its first check, ``gold == pred``, is true (a nan/zoo gold raises: False);
  - a gold assignment (``x = 3``) against a non-equation answer is compared by its right side,
    and an equation answer against a non-equation gold by the answer's right side, as
    Math-Verify unwraps them (``vlaa.rewards.math_monomial`` then decides a number against prose);
  - two real constants (numbers, ``\\pi``, ``e``, roots, sums and products of them) whose values
    are clearly apart: every branch (structure, 6-place rounding, ``evalf`` of the difference,
    ``simplify`` of the difference) finds them unequal;
  - a non-zero constant against prose (a non-constant monomial, see ``math_monomial``): the
    difference is not constant, so neither ``evalf`` nor ``simplify`` finds it zero;
  - a proper interval against a number or prose: the set branch finds them unequal;
  - two linear equations in one variable each (``x = 3``, ``6x = 18``, ``3 = x``): Math-Verify
    compares ``lhs - rhs`` of both, as is and with the answer's sides flipped, and nothing else
    can succeed (for a real variable ``solve`` returns one bare value where its code expects
    dicts, and raises), so
    they match only when one ``lhs - rhs`` is the other or its negation: ``6x = 18`` does not
    match ``x = 3`` (Math-Verify's verdict, kept).
tests/rewards/test_rewards_math_shortcuts.py checks each against plain Math-Verify.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from vlaa.rewards.math_monomial import _nonconstant_monomial, _verify_without_sympy

# Constants are only told apart when both are at most this large and their gap is at least this
# fraction of the larger (at least of 1): far outside 6-place rounding and ``evalf``'s chop.
_MAX_CONSTANT = 1e6
_CLEAR_GAP = 1e-4
# Every part of a constant is at most this large, so that float rounding stays far below the gap.
_MAX_PART = 1e9
# A constant this close to 0 could be chopped to 0 by ``evalf``; such golds go to Math-Verify.
_MIN_NONZERO = 1e-3
# Coefficients of linear equations beyond this (numerator or denominator) go to Math-Verify, so
# that no difference of coefficients is small enough for ``evalf`` to chop.
_MAX_COEFFICIENT = 10**6

Linear = dict[Any, Fraction]  # Symbol (None for the constant term) -> coefficient


def _constant_value(expr: Any) -> float | None:
    """The value of a finite real constant built from numbers, pi and e by ``+``, ``*`` and
    powers; ``None`` for anything else (symbols, functions, ``I``, percent, infinities)."""
    from sympy import Add, Float, Mul, Pow, Rational, S

    try:
        if isinstance(expr, Rational):
            value = int(expr.p) / int(expr.q)
        elif isinstance(expr, Float):
            value = float(expr)
        elif expr is S.Pi or expr is S.Exp1:
            value = math.pi if expr is S.Pi else math.e
        elif isinstance(expr, Add | Mul):
            parts = [_constant_value(arg) for arg in expr.args]
            known = [part for part in parts if part is not None]
            if len(known) < len(parts):
                return None
            value = math.fsum(known) if isinstance(expr, Add) else math.prod(known)
        elif isinstance(expr, Pow):
            base, exponent = _constant_value(expr.base), _constant_value(expr.exp)
            if base is None or exponent is None or (base < 0 and not exponent.is_integer()):
                return None
            value = base**exponent
        else:
            return None
    except (ArithmeticError, ValueError):  # overflow, 0 to a negative power
        return None
    if not isinstance(value, float) or not abs(value) <= _MAX_PART:  # also nan, complex
        return None
    return value


def _constants_verdict(gold: float, predicted: float) -> bool | None:
    """False for two constants clearly apart; ``None`` when close (Math-Verify decides)."""
    scale = max(1.0, abs(gold), abs(predicted))
    if scale > _MAX_CONSTANT or abs(gold - predicted) <= _CLEAR_GAP * scale:
        return None
    return False


def _linear_form(expr: Any) -> Linear | None:
    """``expr`` as rational coefficients of at most one-letter Symbols, if it is linear."""
    from sympy import Add, Float, Integer, Mul, Pow, Rational, Symbol

    if isinstance(expr, Rational):
        if max(abs(int(expr.p)), int(expr.q)) > _MAX_COEFFICIENT:
            return None
        return {None: Fraction(int(expr.p), int(expr.q))}
    if type(expr) is Symbol:
        # compare_symbols lowercases longer names, and a Symbol named e matches E; solve finds
        # no solution for a Symbol that is not real (``i``), and all() of none is true
        if len(expr.name) != 1 or expr.name.lower() == "e" or expr.is_real is not True:
            return None
        return {expr: Fraction(1)}
    if isinstance(expr, Add):
        total: Linear = {}
        for arg in expr.args:
            form = _linear_form(arg)
            if form is None:
                return None
            for key, value in form.items():
                total[key] = total.get(key, Fraction(0)) + value
        return total
    if isinstance(expr, Pow) and isinstance(expr.base, Rational) and isinstance(expr.exp, Integer):
        if expr.base == 0 or abs(int(expr.exp)) > 4:
            return None
        base = _linear_form(expr.base)  # \\frac{x}{2} is x * 2**-1, unevaluated
        return None if base is None else {None: base[None] ** int(expr.exp)}
    if isinstance(expr, Mul) and not any(isinstance(arg, Float) for arg in expr.args):
        product: Linear = {None: Fraction(1)}
        for arg in expr.args:
            form = _linear_form(arg)
            if form is None:
                return None
            if set(form) - {None}:  # the one factor that holds a variable
                if set(product) - {None}:
                    return None
                product, form = form, product
            scale = form.get(None, Fraction(0))
            product = {key: value * scale for key, value in product.items()}
        return product
    return None


def _cleaned(form: Linear) -> Linear:
    return {key: value for key, value in form.items() if value != 0}


def _equation_form(equation: Any) -> Linear | None:
    """``lhs - rhs`` of an equation in exactly one variable, whose coefficient is not 0."""
    from sympy import Eq

    if not isinstance(equation, Eq):
        return None
    lhs, rhs = _linear_form(equation.lhs), _linear_form(equation.rhs)
    if lhs is None or rhs is None:
        return None
    form = dict(lhs)
    for key, value in rhs.items():
        form[key] = form.get(key, Fraction(0)) - value
    form = _cleaned(form)
    if len(set(form) - {None}) != 1:
        return None
    if any(max(abs(v.numerator), v.denominator) > _MAX_COEFFICIENT for v in form.values()):
        return None
    return form


def _is_bare_symbol(form: Linear) -> bool:
    """``lhs - rhs`` is a lone Symbol: Math-Verify then compares names, not values."""
    return len(form) == 1 and None not in form and next(iter(form.values())) == 1


def _equations_verdict(gold: Any, predicted: Any) -> bool | None:
    gold_form, predicted_form = _equation_form(gold), _equation_form(predicted)
    if gold_form is None or predicted_form is None:
        return None
    flipped = {key: -value for key, value in predicted_form.items()}
    if any(_is_bare_symbol(form) for form in (gold_form, predicted_form, flipped)):
        return None
    gold_symbol = next(key for key in gold_form if key is not None)
    predicted_symbol = next(key for key in predicted_form if key is not None)
    if gold_symbol.name == predicted_symbol.name and gold_symbol != predicted_symbol:
        return None  # same name, other assumptions: names and values disagree
    return gold_form in (predicted_form, flipped)


def _unwrapped(gold: Any, predicted: Any) -> tuple[Any, Any] | None:
    """The pair after Math-Verify's assignment and equation unwrapping, when one side is an
    equation and the other is not; the pair unchanged when neither is."""
    from math_verify.grader import is_assignment_relation, is_equation, take_last_relation

    gold_equation, predicted_equation = is_equation(gold), is_equation(predicted)
    if predicted_equation and not gold_equation:
        return gold, take_last_relation(predicted).rhs
    if gold_equation and not predicted_equation:
        if not is_assignment_relation(gold):
            return None
        return take_last_relation(gold).rhs, predicted
    return gold, predicted


def _interval_against_expression(gold: Any, predicted: Any) -> bool:
    """A proper interval with rational ends against an expression (a number, prose): never equal.

    Math-Verify's set branch compares the interval with ``{predicted}``: not equal, their
    symmetric difference is not empty (an interval has more than one point), and an interval
    meets a one-element set in no other branch.
    """
    from sympy import Expr, Interval, Rational

    return (
        type(gold) is Interval
        and isinstance(gold.start, Rational)
        and isinstance(gold.end, Rational)
        and gold.start < gold.end
        and isinstance(predicted, Expr)
    )


def _equal(gold: Any, predicted: Any) -> bool:
    """Math-Verify's first check, ``gold == predicted``, which it reads as false if it raises."""
    try:
        return bool(gold == predicted)
    except Exception:
        return False


def _pair_verdict(gold: Any, predicted: Any) -> bool | None:
    """Math-Verify's ``sympy_expr_eq(gold, predicted)`` where decided here, else ``None``."""
    from sympy import Basic, S, Symbol
    from sympy.core.relational import Relational

    if not (isinstance(gold, Basic) and isinstance(predicted, Basic)):
        return None  # matrices
    if gold is S.NaN or gold is S.ComplexInfinity:
        return None
    if _equal(gold, predicted):
        return True
    if isinstance(gold, Relational) and isinstance(predicted, Relational):
        return _equations_verdict(gold, predicted)
    pair = _unwrapped(gold, predicted)
    if pair is None:
        return None
    gold, predicted = pair
    if not (isinstance(gold, Basic) and isinstance(predicted, Basic)):
        return None
    if gold is S.NaN or gold is S.ComplexInfinity:
        return None
    if _equal(gold, predicted):
        return True
    if _interval_against_expression(gold, predicted):
        return False
    gold_value = _constant_value(gold)
    if gold_value is None:
        return None
    predicted_value = _constant_value(predicted)
    if predicted_value is not None:
        return _constants_verdict(gold_value, predicted_value)
    if not _nonconstant_monomial(predicted):
        return None
    if gold.is_Number:
        return _verify_without_sympy([gold], [predicted])
    if type(predicted) is Symbol or abs(gold_value) < _MIN_NONZERO:
        return None
    return False


def verify_shortcut(gold: Sequence[Any], target: Sequence[Any]) -> bool | None:
    """Math-Verify's ``verify(gold, target)`` where every pair is decided here, else ``None``.

    ``verify`` is true when any (gold, answer) pair of parsed alternatives matches: strings
    when equal after ``strip`` (and not empty), a string and a sympy object never, two sympy
    objects as ``_pair_verdict`` says.
    """
    from sympy import Basic

    undecided = False
    for gold_item in gold:
        for target_item in target:
            if isinstance(gold_item, str) or isinstance(target_item, str):
                if isinstance(gold_item, str) and isinstance(target_item, str):
                    gold_text, target_text = gold_item.strip(), target_item.strip()
                    if gold_text and gold_text == target_text:
                        return True
                continue
            verdict = (
                _pair_verdict(gold_item, target_item)
                if isinstance(gold_item, Basic) and isinstance(target_item, Basic)
                else None
            )
            if verdict:
                return True
            undecided = undecided or verdict is None
    return None if undecided else False
