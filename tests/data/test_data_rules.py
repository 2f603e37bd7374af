"""The data engine's deterministic rules and the offline teacher that applies them."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from vlaa.data import rules
from vlaa.data.offline_teacher import OfflineTeacher, TeacherError
from vlaa.data.synthetic import SceneGraph, SyntheticConfig, SyntheticMix, generate
from vlaa.records import Record

# ------------------------------------------------------------------------------ aha keywords


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wait, the cube is red.", True),
        ("WAIT", True),
        ("Let me count AGAIN.", True),
        ("I double-check it.", True),
        ("Hmm.", True),
        ("That was a mistake.", True),
        ("Alternatively, count the spheres.", True),
        ("Checking the options.", True),
        ("I should confirm the count.", True),
        ("against", True),  # the paper's rule is a plain substring match
        ("I see 3 objects, so the answer is 2.", False),
        ("", False),
    ],
)
def test_has_aha(text: str, expected: bool) -> None:
    assert rules.has_aha(text) is expected


def test_aha_keywords_are_the_papers() -> None:
    assert set(rules.AHA_KEYWORDS) == {
        "wait",
        "again",
        "double-check",
        "hmm",
        "mistake",
        "alternatively",
        "check",
        "i should confirm",
    }


# ------------------------------------------------------------------------------ rewrite limit


def test_rewrite_within_limit() -> None:
    base = "one two three"
    assert rules.rewrite_within_limit(base, base)
    assert rules.rewrite_within_limit(base, base + " x" * 15)
    assert not rules.rewrite_within_limit(base, base + " x" * 16)
    assert rules.rewrite_within_limit(base + " x" * 15, base)
    assert not rules.rewrite_within_limit(base, base + " x y", max_word_delta=1)
    # Whitespace does not count as words.
    assert rules.rewrite_within_limit("a  b\n c", "a b c", max_word_delta=0)


# ------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", True),
        ("yes", True),
        (" YES.\n", True),
        ("**Yes**", True),
        ('"Yes!"', True),
        ("Yes, they match.", True),
        ("No", False),
        ("no.", False),
        ("  No!  ", False),
        ("Nope", None),
        ("The answers match.", None),
        ("Yesterday", None),
        ("", None),
        ("...", None),
    ],
)
def test_parse_verification(text: str, expected: bool | None) -> None:
    assert rules.parse_verification(text) is expected


# ------------------------------------------------------------------------------ MCQ answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", "A"),
        ("A)", "A"),
        ("(a)", "A"),
        ("a", "A"),
        ("A. red", "A"),
        ("(B) 60°", "B"),
        ("( c )", "C"),
        ("D: yellow", "D"),
        ("  b.  ", "B"),
        ("Answer: C", "C"),
        ("The answer is (D)", "D"),
        ("Option b", "B"),
        ("Apple", None),
        ("a cat", None),
        ("42", None),
        ("", None),
        ("()", None),
    ],
)
def test_normalise_mcq_answer(text: str, expected: str | None) -> None:
    assert rules.normalise_mcq_answer(text) == expected


# ------------------------------------------------------------------------------ formats


def test_format_response() -> None:
    assert rules.format_response(" I see 2. ", " 2 ") == "<think>I see 2.</think><answer>2</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>I see 2.</think> 2", ("I see 2.", "2")),
        ("<think>I see 2.</think>\n\n<answer>2</answer>", ("I see 2.", "2")),
        ("<think>\nmulti\nline\n</think>B", ("multi\nline", "B")),
        ("<think>no answer</think>", ("no answer", None)),
        ("<think>no answer</think>   ", ("no answer", None)),
        ("just text", ("just text", None)),
    ],
)
def test_split_reasoning_output(text: str, expected: tuple[str, str | None]) -> None:
    assert rules.split_reasoning_output(text) == expected


def test_dedup_key() -> None:
    key = rules.dedup_key("abc", "How many objects are there?")
    assert key == rules.dedup_key("abc", "  how many   OBJECTS are there? ")
    assert key != rules.dedup_key("abd", "How many objects are there?")
    assert key != rules.dedup_key("abc", "How many cubes are there?")
    assert len(key) == 64


# ------------------------------------------------------------------------------ offline teacher


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Record]:
    config = SyntheticConfig(num_samples=300, seed=5, mix=SyntheticMix(digit=1, mcq=1, iou=1))
    return [record for record, _ in generate(config, tmp_path_factory.mktemp("images"))]


def _run(teacher: OfflineTeacher, record: Record) -> tuple[str, str | None, str]:
    caption = teacher.caption(record)
    output = teacher.rewrite(teacher.reason(record, caption))
    reasoning, answer = rules.split_reasoning_output(output)
    verdict = teacher.verify(answer or "", record.answer_text())
    return reasoning, answer, verdict


def test_solver_answers_every_question_right_without_errors(records: list[Record]) -> None:
    teacher = OfflineTeacher(error_rate=0.0)
    for record in records:
        reasoning, answer, verdict = _run(teacher, record)
        assert answer is not None, record.question
        assert verdict == "Yes", (record.question, answer, record.answer_text())
        assert 10 <= rules.word_count(reasoning) <= 45, reasoning


def test_error_rate_one_makes_every_answer_wrong(records: list[Record]) -> None:
    teacher = OfflineTeacher(error_rate=1.0)
    assert all(_run(teacher, record)[2] == "No" for record in records)


def test_default_error_rate_is_small_and_deterministic(records: list[Record]) -> None:
    verdicts = [_run(OfflineTeacher(), record)[2] for record in records]
    assert verdicts == [_run(OfflineTeacher(), record)[2] for record in records]
    wrong = verdicts.count("No") / len(verdicts)
    assert 0.01 <= wrong <= 0.12


def test_aha_share_controls_the_self_checks(records: list[Record]) -> None:
    def share(aha_share: float) -> float:
        teacher = OfflineTeacher(aha_share=aha_share)
        return sum(rules.has_aha(_run(teacher, r)[0]) for r in records) / len(records)

    # Plain reasonings never hit an aha keyword by accident.
    assert share(0.0) == 0.0
    assert share(1.0) == 1.0
    assert 0.3 <= share(0.4) <= 0.5


def test_rewrite_replaces_caption_wording_only() -> None:
    teacher = OfflineTeacher()
    assert teacher.rewrite("The caption lists a red cube.") == "The image shows a red cube."
    assert teacher.rewrite("according to the description, 2") == "according to the image, 2"
    assert teacher.rewrite("Based on the rationale it is B.") == "Based on the image it is B."
    assert teacher.rewrite("the caption says 3") == "the image shows 3"
    assert teacher.rewrite("This caption is short.") == "This image is short."
    unchanged = "<think>I see a red cube.</think> 1"
    assert teacher.rewrite(unchanged) == unchanged


def test_caption_mentions_are_rewritten(records: list[Record]) -> None:
    teacher = OfflineTeacher(caption_mention_share=1.0, error_rate=0.0)
    for record in records[:30]:
        raw = teacher.reason(record, teacher.caption(record))
        assert "caption" in raw
        rewritten = teacher.rewrite(raw)
        assert "caption" not in rewritten and "the image" in rewritten.lower()
        assert rules.rewrite_within_limit(raw, rewritten, max_word_delta=0)


def test_caption_is_structured(records: list[Record]) -> None:
    record = records[0]
    scene = SceneGraph.from_dict(record.meta["scene"])
    caption = OfflineTeacher().caption(record)
    assert caption.startswith("Setting:")
    for obj in scene.objects:
        assert f"{obj.phrase()} {obj.place()}" in caption


def test_teacher_labels() -> None:
    labels = OfflineTeacher().labels()
    assert labels["teacher"] == "offline"
    assert labels["teacher_models"] == {
        "caption": "offline-scene-graph-captioner",
        "reason": "offline-rule-solver",
        "rewrite": "offline-rewriter",
        "verify": "offline-exact-match",
    }
    assert labels["prompt_versions"] == dict.fromkeys(
        ("caption", "reason", "rewrite", "verify"), "offline-v1"
    )


def test_teacher_needs_a_scene_graph(tmp_path: Path) -> None:
    record = Record(
        id="x", source="s", image="a.png", question="Q?", answer="1", reward_type="digit"
    )
    with pytest.raises(TeacherError, match="scene graph"):
        OfflineTeacher().caption(record)


def test_unknown_question_gets_no_answer(records: list[Record]) -> None:
    record = records[0].model_copy(update={"question": "What is the meaning of this?"})
    output = OfflineTeacher().reason(record, "")
    assert rules.split_reasoning_output(output)[1] is None


@pytest.mark.parametrize(
    ("answer", "truth", "verdict"),
    [
        ("2", "2", "Yes"),
        ("2.0", "2", "Yes"),
        ("3", "2", "No"),
        ("(b)", "B", "Yes"),
        ("B. red", "B", "Yes"),
        ("C", "B", "No"),
        ("[0.100, 0.200, 0.300, 0.400]", "[0.100, 0.200, 0.300, 0.400]", "Yes"),
        ("[0.102, 0.2, 0.3, 0.4]", "[0.100, 0.200, 0.300, 0.400]", "Yes"),
        ("[0.2, 0.2, 0.3, 0.4]", "[0.100, 0.200, 0.300, 0.400]", "No"),
        ("[0.1, 0.2, 0.3]", "[0.100, 0.200, 0.300, 0.400]", "No"),
        ("A red cube", "a red cube", "Yes"),
    ],
)
def test_verify(answer: str, truth: str, verdict: str) -> None:
    assert OfflineTeacher().verify(answer, truth) == verdict


def test_teacher_rejects_bad_shares() -> None:
    with pytest.raises(ValueError, match="aha_share"):
        OfflineTeacher(aha_share=1.5)


def _regex_split(text: str) -> tuple[str, str | None]:
    """The regex formulation split_reasoning_output replaced (kept as its reference)."""
    match = re.search(r"<think>(.*?)</think>(.*)", text, re.DOTALL)
    if match is None:
        return text.strip(), None
    reasoning, tail = match.group(1).strip(), match.group(2)
    tagged = re.search(r"<answer>(.*?)</answer>", tail, re.DOTALL)
    answer = (tagged.group(1) if tagged else tail).strip()
    return reasoning, answer or None


def test_split_reasoning_output_matches_its_regex_reference() -> None:
    rng = random.Random(7)
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " x ", "\n", "Wait", "42", ""]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert rules.split_reasoning_output(text) == _regex_split(text), repr(text)


@pytest.mark.parametrize(
    ("answer", "question", "context", "fixed"),
    [
        (
            "a = -5",
            "The function y = a * sin(-5 * x) goes through (pi/10, 5). What is the function's "
            "equation?",
            "",
            "y = (-5) * sin(-5 * x)",
        ),
        (
            "a=2, b=3",
            "Given f(x) = a*x^2 + b*x + 1, what is the expression of f(x)?",
            "",
            "f(x) = 2*x^2 + 3*x + 1",
        ),
        (
            "a = 2",
            "What is the equation?",
            "The line y = a*x + 3 passes through (1, 5).",
            "y = 2*x + 3",
        ),
        ("-5", "The function y = a * sin(x). What is the equation?", "", None),  # not assignments
        ("a = -5", "The function y = a * sin(x). What is a?", "", None),  # asks for the value
        ("c = 1", "The function y = a * sin(x). What is the equation?", "", None),  # no such name
    ],
)
def test_math_answers_giving_only_coefficients_become_the_expression(
    answer: str, question: str, context: str, fixed: str | None
) -> None:
    assert rules.fix_math_answer(answer, question, context) == fixed
