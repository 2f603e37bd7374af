"""The deterministic rules of the data engine (the paper, "The six-step data pipeline").

Small pure functions, shared by the dataset builder and any teacher (offline or LLM), so every
path applies the same aha keywords, rewrite limit, verdict parsing and answer normalisation.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from vlaa.rewards.math_normalise import normalise_math_answer

# Step 6: a reasoning containing any of these (case-insensitive substring) goes to RL.
AHA_KEYWORDS: tuple[str, ...] = (
    "wait",
    "again",
    "double-check",
    "hmm",
    "mistake",
    "alternatively",
    "check",
    "i should confirm",
)

# Step 4: a rewrite that changes the word count by more than this is dropped.
MAX_REWRITE_WORD_DELTA = 15

_MCQ_PREFIX_RE = re.compile(
    r"^(?:the\s+)?(?:correct\s+)?(?:final\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*",
    re.IGNORECASE,
)
_MCQ_PAREN_RE = re.compile(r"^\(\s*([A-Za-z])\s*\)")
_MCQ_BARE_RE = re.compile(r"^([A-Za-z])(?:[.):]|$)")
_WORD_RE = re.compile(r"[a-z]+")
# An option label in a question: "A. red", "A: 32°", "(A) 60°", "[B]", at a line start or after
# a space. Generous on purpose: a stray match can only lengthen the run of options found.
_OPTION_LABEL_RE = re.compile(r"(?:^|(?<=[\s(\[]))[(\[]?([A-Z])\s?[.):：\]]")


def has_aha(text: str) -> bool:
    """Whether ``text`` contains an aha keyword (case-insensitive substring, as the paper)."""
    lowered = text.lower()
    return any(keyword in lowered for keyword in AHA_KEYWORDS)


def word_count(text: str) -> int:
    return len(text.split())


def rewrite_within_limit(
    original: str, rewritten: str, max_word_delta: int = MAX_REWRITE_WORD_DELTA
) -> bool:
    """Whether the rewrite kept the word count within ``max_word_delta`` of the original."""
    return abs(word_count(original) - word_count(rewritten)) <= max_word_delta


def parse_verification(text: str) -> bool | None:
    """A judge's verdict: True for "Yes", False for "No", None when it says neither.

    Tolerates case, punctuation, Markdown emphasis and surrounding whitespace ("**Yes.**");
    the first word decides, so "Yes, they match" is a yes.
    """
    words = _WORD_RE.findall(text.lower())
    if not words:
        return None
    if words[0] == "yes":
        return True
    if words[0] == "no":
        return False
    return None


def normalise_mcq_answer(text: str) -> str | None:
    """The option letter of an MCQ answer ("A", "A)", "(a)", "A. text", "(B) 60°"), else None.

    A leading "Answer:" / "The answer is" is skipped. A letter followed by more letters
    ("Apple") is not an option.
    """
    stripped = _MCQ_PREFIX_RE.sub("", text.strip()).strip()
    match = _MCQ_PAREN_RE.match(stripped) or _MCQ_BARE_RE.match(stripped)
    if match is None:
        return None
    return match.group(1).upper()


def listed_options(question: str) -> str:
    """The option letters a question lists, as the run "AB..." from A; "" for fewer than two
    (then the question gives no options to check an answer against)."""
    found = {match.group(1) for match in _OPTION_LABEL_RE.finditer(question)}
    letters = ""
    while chr(ord("A") + len(letters)) in found:
        letters += chr(ord("A") + len(letters))
    return letters if len(letters) >= 2 else ""


def format_response(reasoning: str, answer: str) -> str:
    """The training target: ``<think>{reasoning}</think><answer>{answer}</answer>``."""
    return f"<think>{reasoning.strip()}</think><answer>{answer.strip()}</answer>"


def split_reasoning_output(text: str) -> tuple[str, str | None]:
    """Split an R1-style output ``<think>R</think> A`` into (R, A); A is None when absent.

    An ``<answer>`` tag after the thinking is unwrapped; an output without ``<think>`` is all
    reasoning and no answer. Plain ``str.find`` (the first ``<think>``, the first ``</think>``
    after it): a non-greedy regex cost 15x more on 4 KB reasonings, most of an import's time.
    """
    start = text.find("<think>")
    end = -1 if start == -1 else text.find("</think>", start + len("<think>"))
    if end == -1:
        return text.strip(), None
    reasoning, tail = text[start + len("<think>") : end].strip(), text[end + len("</think>") :]
    open_at = tail.find("<answer>")
    close_at = -1 if open_at == -1 else tail.find("</answer>", open_at + len("<answer>"))
    if close_at != -1:
        tail = tail[open_at + len("<answer>") : close_at]
    return reasoning, tail.strip() or None


def _normalise_question(question: str) -> str:
    return " ".join(question.lower().split())


def dedup_key(image_bytes_hash: str, question: str) -> str:
    """A key equal for the same image bytes asked the same question (case/space-insensitive)."""
    payload = f"{image_bytes_hash}\n{_normalise_question(question)}".encode()
    return hashlib.sha256(payload).hexdigest()


# Extra RL cleaning (the paper): a math answer that only gives the unknown coefficients
# ("a = -5") where the question asks for the whole expression ("What is the function's
# equation?") is rewritten into that expression, taken from the problem's own template.
_ASKS_FOR_EXPRESSION_RE = re.compile(
    r"\b(equation|expression|formula|function(?:'s)? (?:rule|form))\b", re.IGNORECASE
)
_ASSIGNMENT_RE = re.compile(r"^\s*([A-Za-z])\s*=\s*(-?[\d.]+(?:\s*[*/]\s*(?:pi|π|[\d.]+))?)\s*$")
_ASSIGNMENT_SPLIT_RE = re.compile(r"\s*(?:,|;|\band\b)\s*")
# "y = a * sin(x)" / "f(x) = a*x^2 + b", up to the end of its clause.
_TEMPLATE_RE = re.compile(
    r"\b([A-Za-z](?:\s*\(\s*x\s*\))?\s*=\s*[^=?\n]+?)"
    r"(?=\s*(?:[?\n]|\.\s|\.$|,\s|$| goes| passes| has| is\b| where))"
)


def parse_assignments(answer: str) -> dict[str, str] | None:
    """``{"a": "-5", "b": "2"}`` when ``answer`` is only variable assignments, else None."""
    parts = [part for part in _ASSIGNMENT_SPLIT_RE.split(answer.strip().rstrip(".")) if part]
    values: dict[str, str] = {}
    for part in parts:
        match = _ASSIGNMENT_RE.match(part)
        if match is None:
            return None
        values[match.group(1)] = match.group(2).replace(" ", "")
    return values or None


def fix_math_answer(answer: str, question: str, context: str = "") -> str | None:
    """The whole expression when ``answer`` only gives coefficient values the question's
    template needs (``a = -5`` + "y = a * sin(-5 * x) ... What is the equation?" ->
    ``y = -5 * sin(-5 * x)``); None when no fix applies (the answer stays as it is)."""
    if not _ASKS_FOR_EXPRESSION_RE.search(question):
        return None
    values = parse_assignments(answer)
    if values is None:
        return None
    for text in (question, context):
        for match in _TEMPLATE_RE.finditer(text):
            left, _, right = match.group(1).partition("=")
            names = set(re.findall(r"\b[A-Za-z]\b", right))
            if not set(values) <= names or left.strip() in values:
                continue
            filled = re.sub(
                r"\b([A-Za-z])\b",
                lambda m: _as_factor(values[m.group(1)]) if m.group(1) in values else m.group(1),
                right.strip(),
            )
            return f"{left.strip()} = {filled}"
    return None


# Where a math ground truth rewritten by ``normalise_math_ground_truth`` keeps its source text.
ORIGINAL_ANSWER_KEY = "answer_original"


def normalise_math_ground_truth(answer: str, meta: dict[str, Any]) -> str:
    """A math ground truth in the LaTeX Math-Verify reads as meant (``2 * sin(x)`` ->
    ``2 \\cdot \\sin(x)``, see ``vlaa.rewards.math_normalise``); when it changes, the text
    first written is kept in ``meta["answer_original"]`` (a later rewrite keeps the first)."""
    normalised = normalise_math_answer(answer)
    if normalised != answer:
        meta.setdefault(ORIGINAL_ANSWER_KEY, answer)
    return normalised


def _as_factor(value: str) -> str:
    return f"({value})" if value.startswith("-") or any(op in value for op in "*/") else value
