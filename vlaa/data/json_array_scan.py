"""The items of a JSON array, streamed with bounded memory whatever the file holds.

Why not ``ijson.items``: its prefixes ("item.a.item.item...") are built per nesting level and
kept for every open level, so one item nested d levels deep costs O(d^2) memory before the item
is even complete (yajl2_c backend, ijson 3.6: 20 KB -> 253 MB, 200 KB -> 22 GB, the OOM killer;
``ijson.basic_parse``, without prefixes, stays flat). ``json.loads`` on the item instead raises
``RecursionError`` near depth 1000.

So a scanner reads the file in blocks and finds each item's bytes first, counting nesting depth
and size on the raw bytes (a regex jumps between structural bytes; strings are skipped whole):

- bytes are kept only for the item being read, and only up to ``max_row_bytes``;
- bracket types are checked against a stack of at most ``max_json_depth`` openers, deeper
  levels are only counted;
- an item over either limit is read on to its end (a counter, no memory) and comes back as a
  problem (``row_too_large`` / ``json_too_deep``) for the builder's quarantine;
- an item within the limits is parsed with ``json.loads`` (C, bounded depth, finite numbers).

Fast path: most items never reach that scanner. ``json``'s C decoder (``raw_decode``) reads
them one after another straight from a window of the buffer that holds at most
``max_row_bytes`` bytes and at most ``max_json_depth`` bytes ``[`` or ``{`` (counted in C,
those in strings too), so no item in it can break a limit and the decoder cannot nest deeper
than the limit: the limits still hold before anything is parsed. An item the window cannot
settle (cut by the window's end, over a limit, invalid, NaN) goes to the byte scanner, which
decides it exactly as without the fast path (tests/data/test_fuzz_parsing.py compares the
two); reading then goes on in a new window. Reading the items of a 100 MB release costs 0.37
CPU seconds this way instead of 0.66 (ijson: 0.14; 2-core Xeon, bench/json_array_reader.py).

Structure that cannot be resynchronised (a truncated file, mismatched brackets, an item that is
not valid JSON or not UTF-8) raises ``ArrayBroken`` with the byte offset, as ijson did: a
corrupt download should be fetched again, not imported in part.

``prefix`` is ijson's: ``"item"`` (a top-level array) or ``"key.item"`` /
``"key.sub.item"`` (an array under object keys). Values at other paths are skipped unparsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from vlaa.data.json_bounds import (
    DECODER,
    NON_FINITE,
    OPENERS,
    QUOTE,
    STRING_REST,
    NonFiniteNumber,
    Problem,
    loads,
    too_deep,
    too_large,
)
from vlaa.data.limits import InputLimits

BLOCK_BYTES = 1 << 20
_KEY_CAP = 4096  # a longer object key names no prefix we look for
_STRUCTURAL = re.compile(rb'[\[\]{}",:]')
_NON_SPACE = re.compile(rb"[^ \t\r\n]")
# Anything but brackets, whole strings included: always matches (possibly empty), stopping at a
# bracket, at the quote of a string the block cuts, or at the block's end.
_NON_BRACKETS = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.DOTALL)
_OPEN_ARRAY, _CLOSE_ARRAY, _OPEN_OBJECT, _CLOSE_OBJECT = b"[", b"]", b"{", b"}"
_COMMA, _COLON = ord(","), ord(":")
# What may follow an item the fast path read: its separator (group 1) and the spaces around.
_AFTER_ITEM = re.compile(r"[ \t\r\n]*([,\]])[ \t\r\n]*")
# A window's first span; it doubles while items fit (to max_row_bytes) and starts small again
# after the byte scanner took an item, so a file of items that all fail costs O(span) each.
_FIRST_SPAN = 4096
_MAX_BACKOFF = 63
_COUNT_STEP = 8192  # openers are counted in steps of this many bytes, then bisected
_COUNT_GRAIN = 64
_MATCHING = {ord("]"): ord("["), ord("}"): ord("{")}


class ArrayBroken(ValueError):
    """The file's structure breaks at ``offset``; ``items`` were read before it."""

    def __init__(self, reason: str, offset: int, items: int) -> None:
        super().__init__(f"{reason} at byte offset {offset}")
        self.reason = reason
        self.offset = offset
        self.items = items


@dataclass(frozen=True)
class ArrayItem:
    """One item: ``index`` (0-based), the offset of its bytes, its value or its problem."""

    index: int
    offset: int
    value: Any = None
    problem: Problem | None = None


def iter_array_items(
    handle: BinaryIO,
    prefix: str,
    limits: InputLimits,
    start: int = 0,
    block: int = BLOCK_BYTES,
) -> Iterator[ArrayItem]:
    """Every item of the array(s) at ``prefix`` in the JSON document ``handle`` is positioned at
    (``start`` is that position's byte offset, for messages). Raises ``ArrayBroken``."""
    keys = prefix.split(".")
    if keys[-1] != "item" or "item" in keys[:-1] or "" in keys:
        raise ValueError(f"prefix {prefix!r} is not 'item' or 'key[.key...].item'")
    scanner = _Scanner(_Stream(handle, start, block), keys[:-1], limits)
    yield from scanner.value(0)
    trailing = scanner.stream.first_byte()
    if trailing is not None:
        raise ArrayBroken("data after the end of the JSON document", trailing[1], scanner.items)


class _Stream:
    """A binary file read in blocks; bytes before the scan position are dropped, except those
    of a capture (the current item), which is given up when it grows over its cap."""

    def __init__(self, handle: BinaryIO, start: int, block: int) -> None:
        self._handle = handle
        self._block = block
        self.buf = b""
        self.base = start  # file offset of buf[0]
        self.pos = 0  # next byte to scan, in buf
        self.keep: int | None = None  # file offset of the first captured byte
        self.cap = 0
        self.overflow = False

    def offset(self) -> int:
        return self.base + self.pos

    def capture(self, start: int, cap: int) -> None:
        self.keep, self.cap, self.overflow = start, cap, False

    def drop_capture(self) -> None:
        self.keep = None

    def take(self, start: int, end: int) -> bytes:
        return self.buf[start - self.base : end - self.base]

    def more(self) -> bool:
        """Read the next block; False at the end of the file."""
        data = self._handle.read(self._block)
        if not data:
            return False
        if self.keep is not None and self.offset() - self.keep > self.cap:
            self.keep, self.overflow = None, True  # scanned past the cap: keep no more of it
        cut = self.pos if self.keep is None else self.keep - self.base
        self.buf = self.buf[cut:] + data
        self.base += cut
        self.pos -= cut
        return True

    def first_byte(self) -> tuple[int, int] | None:
        """The next byte that is not whitespace and its offset (not consumed); None at EOF."""
        while True:
            match = _NON_SPACE.search(self.buf, self.pos)
            if match is not None:
                self.pos = match.start()
                return self.buf[self.pos], self.base + self.pos
            self.pos = len(self.buf)
            if not self.more():
                return None

    def token(self) -> tuple[int, int] | None:
        """The next structural byte outside strings and its offset (a string is skipped whole
        and reported as its opening quote); None at the end of the file."""
        while True:
            match = _STRUCTURAL.search(self.buf, self.pos)
            if match is None:
                self.pos = len(self.buf)
                if not self.more():
                    return None
                continue
            at = match.start()
            self.pos = match.end()
            byte = self.buf[at]
            offset = self.base + at  # before skip_string, which may move base
            if byte == QUOTE and not self._skip_string():
                return None
            return byte, offset

    def bracket(self) -> tuple[int, int] | None:
        """The next bracket outside strings and its offset; None at the end of the file.

        Inside an item only brackets matter: one regex call passes everything else (text,
        whole strings, ',' and ':'), so a row costs a few steps, not one per token.
        """
        while True:
            self.pos = _NON_BRACKETS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos == len(self.buf):
                if not self.more():
                    return None
                continue
            byte = self.buf[self.pos]
            self.pos += 1
            if byte != QUOTE:
                return byte, self.base + self.pos - 1
            if not self._skip_string():  # a string cut by the block's end
                return None

    def skip_brackets(self, depth: int, floor: int) -> int:
        """Apply the brackets ahead in bulk (counted in C, no token loop) while the depth cannot
        fall to ``floor`` within them; stop at a string, which ``token`` must skip. Linear: a
        window never holds more closers than ``depth - floor - 1``."""
        while depth - floor > 1:
            if self.pos == len(self.buf) and not self.more():
                return depth
            end = min(len(self.buf), self.pos + depth - floor - 1)
            quote = self.buf.find(b'"', self.pos, end)
            end = end if quote == -1 else quote
            buf, start = self.buf, self.pos
            opened = buf.count(b"[", start, end) + buf.count(b"{", start, end)
            closed = buf.count(b"]", start, end) + buf.count(b"}", start, end)
            depth += opened - closed
            self.pos = end
            if quote != -1:
                return depth
        return depth

    def window(self, span: int, max_openers: int) -> tuple[str, bool]:
        """The text of up to ``span`` bytes from ``pos`` (as far as the buffer goes) holding at
        most ``max_openers`` '[' or '{' (to ``_COUNT_GRAIN`` bytes), cut before a character it
        splits or an invalid byte; and whether it spans all ``span`` bytes."""
        buf, end, openers = self.buf, self.pos, 0
        stop = min(len(buf), self.pos + span)
        step = _COUNT_STEP
        # Whole steps while they fit; a step that does not is halved, and every later step stays
        # inside it (the counts only grow): a bisection, so each byte is counted about once.
        while end < stop and step >= _COUNT_GRAIN:
            step_end = min(end + step, stop)
            found = buf.count(b"[", end, step_end) + buf.count(b"{", end, step_end)
            if openers + found <= max_openers:
                openers, end = openers + found, step_end
            else:
                step //= 2
        view = memoryview(buf)[self.pos : end]
        try:
            text = str(view, "utf-8")
        except UnicodeDecodeError as error:
            text = str(view[: error.start], "utf-8")
        return text, end == self.pos + span

    def _skip_string(self) -> bool:
        while True:
            rest = STRING_REST.match(self.buf, self.pos)
            if rest is not None:
                self.pos = rest.end()
                return True
            # No closing quote yet: all that is left is string. Resume at the block's end, one
            # byte back when it ends in an unpaired backslash (the escape's second byte is next).
            left = self.buf[self.pos :]
            backslashes = len(left) - len(left.rstrip(b"\\"))
            self.pos = len(self.buf) - backslashes % 2
            if not self.more():
                return False


class _Scanner:
    def __init__(self, stream: _Stream, keys: list[str], limits: InputLimits) -> None:
        self.stream = stream
        self.keys = keys
        self.limits = limits
        self.items = 0

    def broken(self, reason: str, offset: int | None = None) -> ArrayBroken:
        where = self.stream.base + len(self.stream.buf) if offset is None else offset
        return ArrayBroken(reason, where, self.items)

    def next_token(self, ending: str) -> tuple[int, int]:
        token = self.stream.token()
        if token is None:
            raise self.broken(f"the file ends {ending} (truncated?)")
        return token

    def value(self, level: int) -> Iterator[ArrayItem]:
        """Read one value: descend into it when it lies on the prefix, else skip it."""
        first = self.stream.first_byte()
        if first is None:
            raise self.broken("the file ends where a value should start (truncated?)")
        byte = first[0]
        if level == len(self.keys) and byte == _OPEN_ARRAY[0]:
            self.stream.pos += 1
            yield from self._items()
        elif level < len(self.keys) and byte == _OPEN_OBJECT[0]:
            self.stream.pos += 1
            yield from self._members(level)
        else:
            self._skip_value()

    def _members(self, level: int) -> Iterator[ArrayItem]:
        stream = self.stream
        while True:
            stream.capture(stream.offset(), _KEY_CAP)
            byte, offset = self.next_token("inside an object")
            if byte == _CLOSE_OBJECT[0]:
                stream.drop_capture()
                return
            if byte != QUOTE:
                raise self.broken(f"expected an object key, found {chr(byte)!r}", offset)
            key = None if stream.overflow else stream.take(offset, stream.offset())
            stream.drop_capture()
            byte, offset = self.next_token("inside an object")
            if byte != _COLON:
                raise self.broken(f"expected ':' after an object key, found {chr(byte)!r}", offset)
            if key is not None and _key_text(key) == self.keys[level]:
                yield from self.value(level + 1)
            else:
                self._skip_value()
            byte, offset = self.next_token("inside an object")
            if byte == _CLOSE_OBJECT[0]:
                return
            if byte != _COMMA:
                raise self.broken(f"expected ',' or '}}' in an object, found {chr(byte)!r}", offset)

    def _skip_value(self) -> None:
        first = self.stream.first_byte()
        if first is None:
            raise self.broken("the file ends where a value should start (truncated?)")
        if first[0] in OPENERS or first[0] == QUOTE:
            byte, _ = self.next_token("inside a string")
            if byte in OPENERS:
                self._close(byte)
        # A number, true, false or null: nothing structural to skip.

    def _close(self, opener: int) -> bool:
        """Read on to the bracket closing ``opener``; return whether it nested too deep."""
        limit = self.limits.max_json_depth
        stack = bytearray([opener])
        depth = 1
        deep = False
        while depth:
            if deep:  # nothing of it is kept: count the brackets in bulk
                depth = self.stream.skip_brackets(depth, limit)
            bracket = self.stream.bracket()
            if bracket is None:
                raise self.broken("the file ends inside an array or object (truncated?)")
            byte, offset = bracket
            if byte in OPENERS:
                depth += 1
                if depth <= limit:
                    stack.append(byte)
                elif not deep:
                    deep = True
                    self.stream.drop_capture()  # never parsed: keep no bytes of it
            elif byte in _MATCHING:
                if depth <= limit and stack.pop() != _MATCHING[byte]:
                    raise self.broken(f"{chr(byte)!r} does not match the open bracket", offset)
                depth -= 1
        return deep

    def _items(self) -> Iterator[ArrayItem]:
        stream = self.stream
        first = stream.first_byte()
        if first is not None and first[0] == _CLOSE_ARRAY[0]:
            stream.pos += 1  # an empty array
            return
        backoff = skip = 0  # items the byte scanner reads before the fast path tries again
        while True:
            if skip:
                skip -= 1
            else:
                read = self.items
                if (yield from self._window_items()):
                    return
                # While it settles nothing (a file of NaN items, say), try it less often.
                backoff = 0 if self.items > read else min(2 * backoff + 1, _MAX_BACKOFF)
                skip = backoff
            # An item the fast path could not settle, read by the byte scanner.
            first = stream.first_byte()
            if first is None:
                raise self.broken("the file ends inside an array (truncated?)")
            byte, start = first
            if byte in (_COMMA, _CLOSE_ARRAY[0]):
                raise self.broken("an array item is missing (a stray ',')", start)
            stream.capture(start, self.limits.max_row_bytes)
            deep = False
            if byte in OPENERS or byte == QUOTE:
                token, _ = self.next_token("inside an array item")
                if token in OPENERS:
                    deep = self._close(token)
            byte, end = self.next_token("inside an array")
            if byte not in (_COMMA, _CLOSE_ARRAY[0]):
                raise self.broken(f"expected ',' or ']' after an item, found {chr(byte)!r}", end)
            yield self._item(start, end, deep)
            stream.drop_capture()
            self.items += 1
            if byte == _CLOSE_ARRAY[0]:
                return

    def _window_items(self) -> Generator[ArrayItem, None, bool]:
        """The fast path (module docstring): items decoded straight from windows of the buffer.
        True at the end of the array; False where the next item needs the byte scanner."""
        stream, limits = self.stream, self.limits
        decode, item_end = DECODER.raw_decode, _AFTER_ITEM.match
        span = min(_FIRST_SPAN, limits.max_row_bytes)
        while stream.first_byte() is not None:
            if len(stream.buf) - stream.pos < span and stream.more():
                continue
            text, whole = stream.window(span, limits.max_json_depth)
            ascii_only = text.isascii()  # O(1); else byte lengths come from encoding
            at = reached = 0  # reached: how far the decoder got into an item it could not take
            while at < len(text):
                try:
                    value, end = decode(text, at)
                except json.JSONDecodeError as error:  # cut by the window's end, or invalid
                    unterminated = error.msg.startswith("Unterminated string")
                    reached = len(text) if unterminated else error.pos
                    break
                except (ValueError, RecursionError):  # NaN, 1e999, a huge integer
                    break
                after = item_end(text, end)
                if after is None:  # it may go on past the window, or be broken
                    reached = end
                    break
                size = after.end() - at if ascii_only else len(text[at : after.end()].encode())
                yield ArrayItem(self.items, stream.base + stream.pos, value=value)
                self.items += 1
                stream.pos += size
                at = after.end()
                if after.group(1) == "]":
                    return True
            # No item at all: a longer span may hold it if the decoder got past half of this
            # one (so each retry costs O(the item)); else the item is the byte scanner's.
            longer = whole and span < limits.max_row_bytes and 2 * reached > len(text)
            if at == 0 and not longer:
                return False
            span = min(2 * span, limits.max_row_bytes)
        return False

    def _item(self, start: int, end: int, deep: bool) -> ArrayItem:
        if deep:
            return ArrayItem(self.items, start, problem=too_deep(self.limits))
        if self.stream.overflow or end - start > self.limits.max_row_bytes:
            return ArrayItem(self.items, start, problem=too_large(self.limits))
        raw = self.stream.take(start, end)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.broken(f"invalid UTF-8 ({error.reason})", start + error.start) from None
        try:
            return ArrayItem(self.items, start, value=loads(text))
        except NonFiniteNumber as error:
            return ArrayItem(self.items, start, problem=(NON_FINITE, str(error)))
        except json.JSONDecodeError as error:
            offset = start + len(text[: error.pos].encode("utf-8"))
            raise self.broken(f"invalid JSON ({error.msg})", offset) from None
        except ValueError as error:  # e.g. an integer of over 4300 digits
            return ArrayItem(self.items, start, problem=("invalid_json", str(error)[:160]))


def _key_text(raw: bytes) -> str | None:
    try:
        key = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return key if isinstance(key, str) else None
