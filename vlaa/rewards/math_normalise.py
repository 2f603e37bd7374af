"""Plain-text math answers rewritten as the LaTeX Math-Verify parses correctly.

The VLAA-Thinking release writes Math PUMA answers in programming notation (``2 * sin(x) +
1``, ``exp(-x)``, ``x**2``, ``sqrt(3)``). The ``math`` reward hands the ground truth to
Math-Verify wrapped in ``$...$``, and LaTeX reads ``sin`` as the product ``s*i*n``, ``x**2``
as text and ``1 000`` as ``1*0``. ``normalise_math_answer`` rewrites such text once, at import
and in the coefficient fix-up, and the reward applies it again defensively (records built
before this module); it is idempotent, so the second pass changes nothing.

What is rewritten (anything else, LaTeX and prose included, is returned unchanged):
  - a whole answer that is a number grouped in thousands (``1,000``, ``12 345.5``) -> digits;
  - ``sin cos tan cot sec csc`` (with ``arc``/``a`` and hyperbolic forms) -> ``\\sin`` ...;
  - ``exp(u)`` -> ``e^{u}``; ``sqrt(u)`` -> ``\\sqrt{u}``; ``abs(u)`` -> ``\\left|u\\right|``;
  - ``log(u)`` and ``ln(u)`` -> ``\\ln(u)`` (Python's and sympy's ``log`` is natural, while
    Math-Verify reads ``\\log`` as base 10); ``log(u, b)`` -> ``\\log_{b}(u)``;
    ``log10(u)`` / ``log2(u)`` -> ``\\log_{10}(u)`` / ``\\log_{2}(u)``;
  - ``a**b`` and ``a^b`` -> ``a^{b}`` (a function call base is parenthesised);
  - ``pi``/``π`` -> ``\\pi``, ``inf``/``oo`` -> ``\\infty``, ``*``/``×``/``·`` -> ``\\cdot``.
Text is only rewritten when every word in it is a one-letter variable or a known name, so
prose ("the answer is pi") is never touched.
"""

from __future__ import annotations

import functools
import re

NORMALISE_CACHE_SIZE = 16_384

_LATEX_MARKERS = ("\\", "$", "{", "}")
_GROUPED_NUMBER = re.compile(
    r"(?P<sign>-?)(?P<head>[1-9]\d{0,2})(?P<sep>[, ])\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?"
)
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+\.?\d*|\.\d+)|(?P<log>log(?:10|2))|(?P<word>[A-Za-z]+)"
    r"|(?P<op>\*\*|<=|>=|!=|[-+*/^()=,<>%!|π×·−]))"
)
_TRIG = ("sin", "cos", "tan", "cot", "sec", "csc")
# Plain-text function name -> LaTeX command that Math-Verify reads as that function.
_COMMANDS: dict[str, str] = {
    **{name: f"\\{name}" for name in _TRIG},
    **{f"arc{name}": f"\\arc{name}" for name in _TRIG},
    **{f"a{name}": f"\\arc{name}" for name in _TRIG},
    **{f"{name}h": f"\\{name}h" for name in ("sin", "cos", "tan")},
    "ln": "\\ln",
    "log": "\\ln",
}
_BRACED = ("exp", "sqrt", "abs", "log10", "log2")
_CONSTANTS: dict[str, str] = {"pi": "\\pi", "π": "\\pi", "inf": "\\infty", "oo": "\\infty"}
_OPERATORS: dict[str, str] = {"*": "\\cdot", "×": "\\cdot", "·": "\\cdot", "−": "-"}


class _NotPlainMath(Exception):
    """The text is prose, LaTeX or malformed: it is left as written."""


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _NotPlainMath
        tokens.append(match.group(match.lastgroup or "op"))
        position = match.end()
    return tokens


class _Writer:
    """A recursive-descent pass over the tokens that writes LaTeX; raises on anything odd."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0
        self.rewritten = False

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def sequence(self, closing: str | None) -> str:
        """Pieces up to ``closing`` (consumed) or the end, joined as LaTeX."""
        pieces: list[str] = []
        while (token := self.peek()) is not None:
            if token == closing:
                self.take()
                return _join(pieces)
            if token == ")":
                raise _NotPlainMath
            if token in _OPERATORS or token in "+-/=,<>%!|" or token in ("<=", ">=", "!="):
                self.take()
                self.rewritten |= token in _OPERATORS
                pieces.append(_OPERATORS.get(token, token))
            else:
                pieces.append(self.powered())
        if closing is not None:
            raise _NotPlainMath
        return _join(pieces)

    def powered(self) -> str:
        """An atom and any ``**``/``^`` exponent (right-associative, as in Python)."""
        base, is_call = self.atom()
        if self.peek() not in ("**", "^"):
            return base
        # "x^2" reads the same in LaTeX; "x**2", "x^-1" and "x^(1/2)" do not.
        self.rewritten |= self.take() == "**"
        start = self.at
        sign = ""
        while self.peek() in ("-", "+", "−"):
            sign += "-" if self.take() in ("-", "−") else "+"
        exponent = self.powered()
        self.rewritten |= self.at - start > 1
        if exponent.startswith("(") and _balanced_group(exponent):
            exponent = exponent[1:-1]
        return f"({base})^{{{sign}{exponent}}}" if is_call else f"{base}^{{{sign}{exponent}}}"

    def atom(self) -> tuple[str, bool]:
        """One operand: a number, a name, a call or a parenthesised group; and if a call."""
        token = self.take()
        if token == "(":
            return f"({self.sequence(')')})", False
        if token[0].isdigit() or token[0] == ".":
            return token, False
        if token in _CONSTANTS:
            self.rewritten = True
            return _CONSTANTS[token], False
        if not token.isalpha() and token not in ("log10", "log2"):
            raise _NotPlainMath
        if token in _COMMANDS or token in _BRACED:
            return self.call(token), True
        if len(token) == 1:
            return token, False
        raise _NotPlainMath  # a word: prose, not an expression

    def call(self, name: str) -> str:
        """A function applied to its parenthesised arguments."""
        if self.peek() != "(":
            raise _NotPlainMath  # "sin x" and bare names are left as written
        self.take()
        arguments = self.sequence(")")
        self.rewritten = True
        if name == "log" and "," in arguments:
            value, _, base = arguments.rpartition(",")
            return f"\\log_{{{base.strip()}}}({value.strip()})"
        if name in _COMMANDS:
            return f"{_COMMANDS[name]}({arguments})"
        if "," in arguments:
            raise _NotPlainMath
        if name == "exp":
            return f"e^{{{arguments}}}"
        if name == "sqrt":
            return f"\\sqrt{{{arguments}}}"
        if name == "abs":
            return f"\\left|{arguments}\\right|"
        return f"\\log_{{{name[3:]}}}({arguments})"


def _balanced_group(text: str) -> bool:
    """``text`` is one parenthesised group: its first ``(`` closes at its last character."""
    depth = 0
    for index, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return index == len(text) - 1
    return False


_BINARY = frozenset({"+", "-", "\\cdot", "/", "=", ",", "<", ">", "<=", ">=", "!="})


def _join(pieces: list[str]) -> str:
    """Pieces separated by spaces; a sign glued to its operand, a comma to what precedes it."""
    text = ""
    for index, piece in enumerate(pieces):
        previous = pieces[index - 1] if index else None
        if piece == ",":
            text += ","
        elif previous in ("-", "+") and (index == 1 or pieces[index - 2] in _BINARY):
            text += piece  # after a unary sign: "-5", "(-x)"
        elif (
            piece.startswith("(")
            and previous is not None
            and len(previous) == 1
            and previous.isalpha()
        ):
            text += piece  # "f(x)", as written: LaTeX reads "f (x)" differently
        else:
            text += f" {piece}" if text else piece
    return text


@functools.lru_cache(maxsize=NORMALISE_CACHE_SIZE)
def normalise_math_answer(text: str) -> str:
    """``text`` rewritten as LaTeX Math-Verify parses as meant, or ``text`` itself.

    Returns the input object unchanged when there is nothing to rewrite: LaTeX (any of
    ``\\ $ { }``), prose, or plain text that Math-Verify already reads correctly (``x + 1``).
    """
    stripped = text.strip()
    if not stripped or any(marker in stripped for marker in _LATEX_MARKERS):
        return text
    grouped = _GROUPED_NUMBER.fullmatch(stripped)
    if grouped is not None:
        return stripped.replace(grouped["sep"], "")
    if stripped.isdigit() or not any(char.isalpha() or char in "*^×·−" for char in stripped):
        return text
    try:
        writer = _Writer(_tokens(stripped))
        latex = writer.sequence(None)
    except (_NotPlainMath, IndexError, RecursionError):  # RecursionError: "((((...x**2"
        return text
    return latex if writer.rewritten else text
