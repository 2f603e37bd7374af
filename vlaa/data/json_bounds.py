"""Parsing one JSON row under the input limits: a byte cap while reading, a depth check before
``json.loads``, and finite numbers only.

Why: ``json.loads`` recurses once per nesting level, so a line of 10,000 ``[`` raises
``RecursionError`` (which no reader caught: the whole build aborted); a line of a few GB
without a newline was read whole. Here a line is read with at most ``max_row_bytes + 1`` bytes
held (the rest of an over-long line is skipped in blocks), its depth is counted on the bytes
(strings skipped) before parsing, and ``NaN`` / ``Infinity`` / ``1e999`` are refused, since
they are written back as ``null`` and break training (issue 15).

Problems are ``(reason, detail)`` pairs, the builder's quarantine format.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from vlaa.data.limits import InputLimits

TOO_DEEP = "json_too_deep"
TOO_LARGE = "row_too_large"
NON_FINITE = "non_finite_number"

Problem = tuple[str, str]

# A bracket or the quote opening a string; then the rest of that string up to its closing quote
# (the unrolled loop "[^"\\]*(?:\\.[^"\\]*)*": linear even when the quote never comes).
_STRUCTURE = re.compile(rb'["\[\]{}]')
STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SKIP_BLOCK = 1 << 20
QUOTE = 0x22
OPENERS = b"[{"


class NonFiniteNumber(ValueError):
    """A JSON text holds NaN, Infinity or a number too large for a float."""


def too_large(limits: InputLimits) -> Problem:
    return TOO_LARGE, f"row is over {limits.max_row_bytes} bytes (limits.max_row_bytes)"


def too_deep(limits: InputLimits) -> Problem:
    return (
        TOO_DEEP,
        f"row nests arrays/objects deeper than {limits.max_json_depth} levels "
        "(limits.max_json_depth)",
    )


def read_lines(handle: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` of a binary file; ``None`` for a line over ``max_bytes``.

    At most ``max_bytes + 1`` bytes of a line are held: an over-long line is read on to its end
    in blocks and dropped, so a file with no newline costs no more than a short line.
    """
    number = 0
    while line := handle.readline(max_bytes + 1):
        number += 1
        if line.endswith(b"\n") or len(line) <= max_bytes:
            yield number, line
            continue
        while block := handle.readline(_SKIP_BLOCK):
            if block.endswith(b"\n"):
                break
        yield number, None


def depth_exceeds(raw: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``max_depth``.

    Brackets inside strings do not count. The count stops at the first level too deep, and a
    text with fewer brackets than ``max_depth`` is not scanned at all (nearly every row).
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    depth = 0
    position = 0
    while match := _STRUCTURE.search(raw, position):
        byte = raw[match.start()]
        position = match.end()
        if byte == QUOTE:
            rest = STRING_REST.match(raw, position)
            if rest is None:  # unterminated: json.loads stops there, no deeper
                return False
            position = rest.end()
        elif byte in OPENERS:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def row_problem(raw: bytes, limits: InputLimits) -> Problem | None:
    """The size or depth problem of one row's bytes, else None (checked before parsing)."""
    if len(raw) > limits.max_row_bytes:
        return too_large(limits)
    if depth_exceeds(raw, limits.max_json_depth):
        return too_deep(limits)
    return None


def loads(text: str) -> Any:
    """``json.loads`` that refuses non-finite numbers (``NonFiniteNumber``).

    Call it on a text ``row_problem`` passed: its depth is then bounded. A ``ValueError`` that
    is not a ``json.JSONDecodeError`` (an integer of over 4300 digits) is one too.
    """
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"row holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"row holds {text[:40]}, too large for a number")
    return value


# The decoder ``loads`` builds, kept for the array scanner's ``raw_decode`` (same hooks).
DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_row(raw: bytes, limits: InputLimits) -> tuple[Any, Problem | None]:
    """One JSON-lines row: ``(value, None)``, or ``(None, (reason, detail))``.

    Reasons: ``row_too_large``, ``json_too_deep``, ``non_utf8``, ``invalid_json``,
    ``non_finite_number``.
    """
    problem = row_problem(raw, limits)
    if problem is not None:
        return None, problem
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, ("non_utf8", f"line is not valid UTF-8 ({error.reason} at byte {error.start})")
    try:
        return loads(text), None
    except NonFiniteNumber as error:
        return None, (NON_FINITE, str(error))
    except json.JSONDecodeError as error:
        return None, (
            "invalid_json",
            f"line is not valid JSON ({error.msg} at column {error.colno})",
        )
    except (ValueError, RecursionError) as error:
        return None, ("invalid_json", f"line is not valid JSON ({str(error)[:120]})")
