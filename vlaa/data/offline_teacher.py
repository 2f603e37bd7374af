"""The offline teacher: a stand-in for the LLM teachers of the four teacher steps.

The paper captions with GPT-4o, distils reasoning with DeepSeek-R1, rewrites with GPT-3.5 and
verifies with an LLM judge. The default run has no model server, so this class plays all four
parts from the scene graph (``record.meta["scene"]``) with the same interface an LLM-backed
teacher has: ``caption``, ``reason``, ``rewrite``, ``verify``.

Its reasoning is deliberately short (about 15-40 words) so a tiny model can learn it in
minutes. Per record id it deterministically
- adds an aha self-check (share ``aha_share``) so both the SFT and the RL split fill,
- makes a solving mistake (share ``error_rate``) so verification says "No" and the record is
  dropped, and
- mentions "the caption" (share ``caption_mention_share``) the way R1 sometimes does, which
  the rewrite step then turns into "the image".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from vlaa.boxes import format_box, loose_box
from vlaa.data.rules import normalise_mcq_answer
from vlaa.data.synthetic import SHAPE_FORMS, SceneGraph, SceneObject, matches_group
from vlaa.records import Record

PROMPT_VERSION = "offline-v1"
TEACHER_MODELS: dict[str, str] = {
    "caption": "offline-scene-graph-captioner",
    "reason": "offline-rule-solver",
    "rewrite": "offline-rewriter",
    "verify": "offline-exact-match",
}

_SUBTRACT_RE = re.compile(r"^Subtract all (?P<group>[a-z ]+)\. How many objects are left\?$")
_COUNT_QUESTION = "How many objects are there?"
_COLOUR_RE = re.compile(r"^What colour is the (?P<size>\w+) (?P<shape>\w+)\? (?P<options>A\..*)$")
_SHAPE_RE = re.compile(r"^What shape is the (?P<colour>\w+) object\? (?P<options>A\..*)$")
_SIZE_RE = re.compile(r"^What size is the (?P<colour>\w+) (?P<shape>\w+)\? (?P<options>A\..*)$")
_BOX_RE = re.compile(r"^Give the bounding box of the (?P<colour>\w+) (?P<shape>\w+)\.$")
_OPTION_RE = re.compile(r"\b([A-D])\.\s*([a-z]+)")

# Rewrite rules, most specific first: "The caption lists X" -> "The image shows X".
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\bthe (?:caption|description|rationale) (?:lists|mentions|says|states|describes)\b",
            re.IGNORECASE,
        ),
        "the image shows",
    ),
    (
        re.compile(
            r"\b(according to|based on|from) the (?:caption|description|rationale)\b",
            re.IGNORECASE,
        ),
        r"\1 the image",
    ),
    (re.compile(r"\bthe (?:caption|description|rationale)\b", re.IGNORECASE), "the image"),
    (re.compile(r"\b(?:caption|description|rationale)\b", re.IGNORECASE), "image"),
)


class TeacherError(RuntimeError):
    """A teacher step could not produce output for one record; the builder drops the record."""


@dataclass(frozen=True)
class _Solution:
    """A solved question: the reasoning's main sentence, an aha self-check, the answer."""

    core: str
    check: str
    answer: str | None


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) from ``parts`` (no process-dependent hashing)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def _objects_word(count: int) -> str:
    return "object" if count == 1 else "objects"


def _join(phrases: list[str]) -> str:
    """'a, b and c'."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _parse_number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _options(text: str) -> dict[str, str]:
    return dict(_OPTION_RE.findall(text))


def _find(objects: list[SceneObject], **attributes: str) -> SceneObject | None:
    for obj in objects:
        if all(getattr(obj, name) == value for name, value in attributes.items()):
            return obj
    return None


def _letter_for(options: dict[str, str], value: str, wrong: bool) -> str | None:
    """The option letter holding ``value``, or (when ``wrong``) the next option's letter."""
    letters = sorted(options)
    for index, letter in enumerate(letters):
        if options[letter] == value:
            return letters[(index + 1) % len(letters)] if wrong else letter
    return None


class OfflineTeacher:
    """Caption, reason, rewrite and verify from scene graphs, deterministically per record."""

    name = "offline"

    def __init__(
        self,
        aha_share: float = 0.4,
        error_rate: float = 0.05,
        caption_mention_share: float = 0.2,
        seed: int = 0,
    ) -> None:
        for label, share in (
            ("aha_share", aha_share),
            ("error_rate", error_rate),
            ("caption_mention_share", caption_mention_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{label} must lie in [0, 1], got {share}")
        self.aha_share = aha_share
        self.error_rate = error_rate
        self.caption_mention_share = caption_mention_share
        self.seed = seed

    def labels(self) -> dict[str, Any]:
        """What this teacher writes into ``record.meta`` (models and prompt versions)."""
        return {
            "teacher": self.name,
            "teacher_models": dict(TEACHER_MODELS),
            "prompt_versions": dict.fromkeys(TEACHER_MODELS, PROMPT_VERSION),
        }

    # Step 2: captioning.
    def caption(self, record: Record) -> str:
        """A structured caption: setting, then each object with colour, size and position."""
        scene = self._scene(record)
        lines = [
            f"Setting: {len(scene.objects)} {_objects_word(len(scene.objects))} on a "
            f"{scene.background} background, seen from above.",
            "Objects:",
        ]
        for number, obj in enumerate(scene.objects, start=1):
            lines.append(f"{number}. {obj.phrase()} {obj.place()}, box {format_box(obj.box)}")
        lines.append("Text: none.")
        return "\n".join(lines)

    # Step 3: reasoning distillation.
    def reason(self, record: Record, caption: str) -> str:
        """An R1-style ``<think>...</think> answer``; no answer when the question is unknown.

        The caption is the teacher's "vision"; the scene graph in ``record.meta`` is the extra
        context the paper passes for CLEVR (scene synthesis info), from which the rule solver
        computes the answer.
        """
        scene = self._scene(record)
        wrong = _unit(self.seed, record.id, "error") < self.error_rate
        solution = self._solve(record.question, scene, wrong)
        sentences = [self._intro(record, scene), solution.core]
        if _unit(self.seed, record.id, "aha") < self.aha_share:
            sentences.append(solution.check)
        thinking = " ".join(sentences)
        if solution.answer is None:
            return f"<think>{thinking}</think>"
        return f"<think>{thinking}</think> {solution.answer}"

    # Step 4: answer rewrite.
    def rewrite(self, text: str) -> str:
        """Replace references to a caption / description / rationale with "the image"."""
        for pattern, replacement in _REWRITES:
            text = pattern.sub(lambda m, r=replacement: _keep_case(m, m.expand(r)), text)
        return text

    # Step 5: verification.
    def verify(self, response_answer: str, ground_truth: str) -> str:
        """ "Yes" when the answer matches the ground truth (boxes, numbers, letters, text)."""
        return "Yes" if _answers_match(response_answer, ground_truth) else "No"

    def _scene(self, record: Record) -> SceneGraph:
        scene = record.meta.get("scene")
        if not isinstance(scene, dict):
            raise TeacherError(
                f"{record.id}: the offline teacher needs a scene graph in meta['scene']"
            )
        try:
            return SceneGraph.from_dict(scene)
        except ValueError as error:
            raise TeacherError(
                f"{record.id}: meta['scene'] is not a scene graph: {error}"
            ) from None

    def _intro(self, record: Record, scene: SceneGraph) -> str:
        """Counting lists every object; perception questions only need how many there are."""
        objects = scene.objects
        mention = _unit(self.seed, record.id, "mention") < self.caption_mention_share
        if record.reward_type == "digit":
            listed = _join([obj.phrase() for obj in objects])
            return f"The caption lists {listed}." if mention else f"I see {listed}."
        count = f"{len(objects)} {_objects_word(len(objects))}"
        return f"The caption mentions {count}." if mention else f"I see {count}."

    def _solve(self, question: str, scene: SceneGraph, wrong: bool) -> _Solution:
        objects = scene.objects
        if question == _COUNT_QUESTION:
            return _solve_count(objects, wrong)
        if match := _SUBTRACT_RE.match(question):
            return _solve_subtract(objects, match.group("group"), wrong)
        if match := _COLOUR_RE.match(question):
            return _solve_colour(objects, match, wrong)
        if match := _SHAPE_RE.match(question):
            return _solve_shape(objects, match, wrong)
        if match := _SIZE_RE.match(question):
            return _solve_size(objects, match, wrong)
        if match := _BOX_RE.match(question):
            return _solve_box(objects, match, wrong)
        return _Solution("I cannot tell what this question asks about the objects.", "", None)


def _keep_case(match: re.Match[str], replacement: str) -> str:
    """Keep a capital first letter: "The caption" -> "The image"."""
    if match.group(0)[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _solve_count(objects: list[SceneObject], wrong: bool) -> _Solution:
    count = len(objects) + (1 if wrong else 0)
    return _Solution(
        core=f"Counting them one by one gives {count} {_objects_word(count)}.",
        check=f"Wait, let me count again: there are {count}.",
        answer=str(count),
    )


def _solve_subtract(objects: list[SceneObject], group: str, wrong: bool) -> _Solution:
    removed = sum(matches_group(obj, group) for obj in objects)
    if wrong:
        removed = removed - 1 if removed > 0 else removed + 1
    left = len(objects) - removed
    return _Solution(
        core=(
            f"Subtracting all {group} removes {removed} {_objects_word(removed)}, "
            f"so {len(objects)} - {removed} = {left}."
        ),
        check=f"Wait, let me double-check: {left} {_objects_word(left)} remain.",
        answer=str(left),
    )


def _mcq_solution(
    options: dict[str, str], value: str, sentence: str, wrong: bool, missing: str
) -> _Solution:
    letter = _letter_for(options, value, wrong)
    if letter is None:
        return _Solution(missing, "", None)
    chosen = options[letter]
    return _Solution(
        core=f"{sentence.format(value=chosen)} That is option {letter}.",
        check=f"Hmm, let me check the options again: {chosen} is option {letter}.",
        answer=letter,
    )


def _solve_colour(objects: list[SceneObject], match: re.Match[str], wrong: bool) -> _Solution:
    size, shape = match.group("size"), match.group("shape")
    target = _find(objects, size=size, shape=shape)
    if target is None:
        return _Solution(f"I cannot find a {size} {shape}.", "", None)
    sentence = f"The {size} {shape} is the {SHAPE_FORMS[shape]} {target.place()}; it is {{value}}."
    return _mcq_solution(
        _options(match.group("options")), target.colour, sentence, wrong, "No option fits."
    )


def _solve_shape(objects: list[SceneObject], match: re.Match[str], wrong: bool) -> _Solution:
    colour = match.group("colour")
    target = _find(objects, colour=colour)
    if target is None:
        return _Solution(f"I cannot find a {colour} object.", "", None)
    form = SHAPE_FORMS[target.shape]
    sentence = f"The {colour} object {target.place()} is drawn as a {form}, so it is a {{value}}."
    return _mcq_solution(
        _options(match.group("options")), target.shape, sentence, wrong, "No option fits."
    )


def _solve_size(objects: list[SceneObject], match: re.Match[str], wrong: bool) -> _Solution:
    colour, shape = match.group("colour"), match.group("shape")
    target = _find(objects, colour=colour, shape=shape)
    if target is None:
        return _Solution(f"I cannot find a {colour} {shape}.", "", None)
    width = target.box[2] - target.box[0]
    sentence = (
        f"The {colour} {shape} {target.place()} spans about {width:.2f} of the image width, "
        "so it is {value}."
    )
    return _mcq_solution(
        _options(match.group("options")), target.size, sentence, wrong, "No option fits."
    )


def _solve_box(objects: list[SceneObject], match: re.Match[str], wrong: bool) -> _Solution:
    colour, shape = match.group("colour"), match.group("shape")
    target = _find(objects, colour=colour, shape=shape)
    if target is None:
        return _Solution(f"I cannot find a {colour} {shape}.", "", None)
    x1, y1, x2, y2 = target.box
    if wrong:
        shift = 0.1 if x2 + 0.1 <= 1 else -0.1
        x1, x2 = x1 + shift, x2 + shift
    box = format_box([x1, y1, x2, y2])
    return _Solution(
        core=(
            f"The {colour} {shape} is {target.place()}: its sides run from x {x1:.3f} to "
            f"{x2:.3f} and from y {y1:.3f} to {y2:.3f}."
        ),
        check=f"Let me double-check the corners: {box} encloses the {SHAPE_FORMS[shape]}.",
        answer=box,
    )


def _answers_match(response_answer: str, ground_truth: str) -> bool:
    """Exact match after normalising boxes (to 0.005), numbers and option letters."""
    # Loose: the four numbers wherever they stand, so a response need not bracket its box.
    truth_box = loose_box(ground_truth) if ground_truth.strip().startswith("[") else None
    if truth_box is not None:
        box = loose_box(response_answer)
        return box is not None and all(
            abs(a - b) <= 0.005 for a, b in zip(box, truth_box, strict=True)
        )
    truth_number = _parse_number(ground_truth)
    if truth_number is not None:
        number = _parse_number(response_answer)
        return number is not None and abs(number - truth_number) < 1e-9
    truth_letter = normalise_mcq_answer(ground_truth)
    if truth_letter is not None:
        return normalise_mcq_answer(response_answer) == truth_letter
    return response_answer.strip().casefold() == ground_truth.strip().casefold()
