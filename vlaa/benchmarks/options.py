"""Which option(s) a multiple-choice answer names.

The rules are VLMEvalKit's rule-based matcher (``can_infer_option`` then ``can_infer_text`` in
``vlmeval/utils/matching_util.py``), which the paper's leaderboard uses before its GPT judge,
plus the project's multi-answer rule. In order:

1. a bare list of labels (``A``, ``A, C``, ``Options B and D``, ``3``): the exact set, which
   multi-answer questions (LogicVista) need;
2. VLMEvalKit's option rule: with ``.()[],:;!*#{}`` read as spaces, exactly one option label
   appears as a word, and it is among the last four words (``B, 12 cm``, ``C:45°``,
   ``The answer is D``); else ``answer is B`` anywhere (``The correct answer is **B**. ...``);
3. the exact text of one option (``60°``);
4. VLMEvalKit's text rule: the text of exactly one option occurs in the answer, and the
   answer is at most twice as long as all option texts together;
5. a label in an explicit label form of any case (``(b)``, ``b.``, ``Answer: b``; see
   ``vlaa.rewards.normalize_mcq``), when no upper-case label word appeared at all.

Deliberate differences from VLMEvalKit, where its rules are wrong (``REFERENCE_DIFFERENCES``;
each is a row of ``tests/benchmarks/test_benchmark_reference_agreement.py``):

- ``lower-case-label``: ``(b)`` / ``b`` name option B (VLMEvalKit only knows upper case);
- ``exact-text-first``: an answer equal to one option's text names it even when shorter
  option texts occur inside it (VLMEvalKit finds ``1`` and ``12`` in ``12`` and gives up);
- ``answer-is-article``: ``answer is`` must be followed by an upper-case label that is a word
  of its own; VLMEvalKit's case-insensitive ``answer\\s+is\\s+([ABCD])`` reads "the answer is
  a triangle" as option A and "the answer is Blue" as option B;
- ``answer-is-any-label``: ``answer is E`` names option E when there is one (VLMEvalKit's
  pattern knows A-D only).
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping

from vlaa.rewards import normalize_mcq

REFERENCE_DIFFERENCES: dict[str, str] = {
    "lower-case-label": "a lower-case label in label form names its option",
    "exact-text-first": "an answer equal to one option's text names that option",
    "answer-is-article": "'answer is' needs an upper-case label word, not an article or word",
    "answer-is-any-label": "'answer is E' names option E, not only A-D",
}

# Words that may surround option labels in a bare list: "Options A and C", "the answer is B".
_LABEL_FILLER = frozenset(
    {"the", "correct", "answer", "answers", "is", "are", "and", "or", "both"}
    | {"option", "options", "choice", "choices"}
)
_WORD = re.compile(r"[A-Za-z0-9]+")
# VLMEvalKit reads these characters as spaces before looking for label words.
_LABEL_PUNCTUATION = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))
_ANSWER_IS = re.compile(r"(?i:(?:correct\s+)?answer\s+is)\s+\**([A-Z])\**(?![A-Za-z0-9])")
UPPER_LABELS: frozenset[str] = frozenset(string.ascii_uppercase)


def text_key(text: str) -> str:
    """Case-, space- and final-period-insensitive form for comparing option texts."""
    return " ".join(text.casefold().split()).rstrip(".").strip()


def bare_labels(text: str) -> frozenset[str] | None:
    """The labels of an answer that is nothing but single-character labels and filler words."""
    words = [w for w in _WORD.findall(text) if w.casefold() not in _LABEL_FILLER]
    if words and all(len(w) == 1 for w in words) and len(words) <= 26:
        return frozenset(w.upper() for w in words)
    return None


def label_words(text: str, labels: Collection[str]) -> list[str]:
    """The words of ``text`` (VLMEvalKit's split) that are option labels, in order."""
    return [word for word in text.translate(_LABEL_PUNCTUATION).split() if word in labels]


def infer_label(text: str, labels: Collection[str]) -> str | None:
    """VLMEvalKit's option rule: one label word near the end, else ``answer is X``."""
    words = text.translate(_LABEL_PUNCTUATION).split()
    named = {word for word in words if word in labels}
    if len(named) == 1:
        (label,) = named
        if words.index(label) > len(words) - 5:  # among the last four words
            return label
    match = _ANSWER_IS.search(text)
    if match and match.group(1) in labels:
        return match.group(1)
    return None


def infer_text(text: str, options: Mapping[str, str]) -> str | None:
    """VLMEvalKit's text rule: exactly one option's text occurs in a short enough answer."""
    lowered = text.lower()
    if len(lowered) > 2 * sum(len(option) for option in options.values()):
        return None
    found = [label for label, option in options.items() if option.lower() in lowered]
    return found[0] if len(found) == 1 else None


def option_label_set(text: str, options: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """The option labels an answer names, or ``None`` if it names none (module docstring).

    ``options`` maps label to text when the item knows its options; without them any
    upper-case letter is a label and only the label rules apply. When the options are known,
    bare labels that are not among them (the answer ``5`` to choices ``3, 4, 5, 6``) give way
    to an option-text match.
    """
    labels: Collection[str] = options.keys() if options else UPPER_LABELS
    bare = bare_labels(text)
    if bare is not None and (not options or bare <= options.keys()):
        return bare
    label = infer_label(text, labels)
    if label is not None:
        return frozenset({label})
    if options:
        key = text_key(text)
        named = [label for label, option in options.items() if key and text_key(option) == key]
        if len(named) == 1:
            return frozenset(named)
        label = infer_text(text, options)
        if label is not None:
            return frozenset({label})
    if bare is not None:
        return bare
    letter = normalize_mcq(text)
    if letter is not None and not label_words(text, labels):
        return frozenset({letter})
    return None


def mcq_correct(prediction: str, answer: str, options: Mapping[str, str] | None = None) -> bool:
    """The prediction names exactly the ground truth's option label(s)."""
    expected = option_label_set(answer)
    got = option_label_set(prediction, options)
    return expected is not None and got == expected
