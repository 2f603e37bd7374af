"""The answer a completion gives: the last complete ``<answer>`` outside ``<think>``.

The format reward is implicit: a completion without an extractable ``<answer>`` scores 0. The
thinking text is never scored, so everything inside ``<think>...</think>`` is ignored,
including answer tags injected there. Parsing is linear in the completion length (``str.find``
scans only), because policies under RL pressure produce degenerate, huge outputs.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def _outside_think(completion: str) -> list[str]:
    """The pieces of ``completion`` that lie outside thinking.

    - ``<think>...</think>`` regions are dropped.
    - An unclosed ``<think>`` drops everything after it.
    - A stray ``</think>`` with no opening tag closes an implicit think that began at the start
      of the completion (chat templates often pre-fill ``<think>`` in the prompt), so every
      piece collected before it is dropped as well.
    """
    pieces: list[str] = []
    pos = 0
    # Next tag positions are cached and only searched again once passed, so a completion with
    # thousands of stray tags is still scanned in linear time.
    next_open = completion.find(THINK_OPEN)
    next_close = completion.find(THINK_CLOSE)
    while True:
        if next_close != -1 and (next_open == -1 or next_close < next_open):
            pieces.clear()
            pos = next_close + len(THINK_CLOSE)
            next_close = completion.find(THINK_CLOSE, pos)
            continue
        if next_open == -1:
            pieces.append(completion[pos:])
            return pieces
        pieces.append(completion[pos:next_open])
        if next_close == -1:
            return pieces
        pos = next_close + len(THINK_CLOSE)
        next_open = completion.find(THINK_OPEN, pos)
        next_close = completion.find(THINK_CLOSE, pos)


def _last_complete_answer(text: str) -> str | None:
    """Content of the last complete ``<answer>...</answer>`` in ``text``, or ``None``.

    An opening tag pairs with the next closing tag; when several openings precede one closing
    tag, the innermost (last) opening wins. Every character is scanned a bounded number of
    times, so this is linear.
    """
    found: str | None = None
    pos = 0
    while True:
        open_at = text.find(ANSWER_OPEN, pos)
        if open_at == -1:
            return found
        content_start = open_at + len(ANSWER_OPEN)
        close_at = text.find(ANSWER_CLOSE, content_start)
        if close_at == -1:
            return found
        inner_open = text.rfind(ANSWER_OPEN, content_start, close_at)
        if inner_open != -1:
            content_start = inner_open + len(ANSWER_OPEN)
        found = text[content_start:close_at]
        pos = close_at + len(ANSWER_CLOSE)


def extract_answer(completion: str) -> str | None:
    """The stripped text of the last complete ``<answer>`` outside thinking.

    Returns ``""`` for an empty answer tag (which scores 0) and ``None`` when there is no
    complete answer tag outside ``<think>`` (which also scores 0).
    """
    if not completion:
        return None
    # Joined with a space so that tag fragments on either side of a think block cannot be
    # glued into a new tag.
    visible = " ".join(_outside_think(completion))
    answer = _last_complete_answer(visible)
    return None if answer is None else answer.strip()
