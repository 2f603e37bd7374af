"""The deterministic rules of the data engine (PAPER.md, "The six-step data pipeline").

Small pure functions, shared by the dataset builder and any teacher (offline or LLM), so every
path applies the same aha keywords, rewrite limit, verdict parsing and answer normalisation.
"""

from __future__ import annotations

import hashlib
import re

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
