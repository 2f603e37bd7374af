"""Release-format files of a chosen size, for the import tests and the data-engine benchmark.

``write_release_file`` writes records shaped like the released VLAA-Thinking files (see
``vlaa.data.sources.release`` for the fields): ids, ``<source>/...`` image paths across the real
image folders (with the release's leading-slash ALLaVA form), questions, ground truths of each
source's kind (counts, option letters, Math PUMA worked solutions ending in ``†Answer:``, boxes,
free text), captions, meta, and ``ds_answer`` with a long R1-style ``<think>`` passage (a few
kilobytes, as the real ~4.9 KB per record), half of them closing with ``<answer>`` tags.

Records are generated and written one at a time, so a 600 MB file costs kilobytes of memory.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from PIL import Image

# Image folder -> share of records (the paper's SFT + RL counts per source).
SOURCE_WEIGHTS: dict[str, int] = {
    "clevr_math": 7_923,
    "geoqa170k": 6_499,
    "synthesis": 25_954,
    "arxivqa": 35_604,
    "docvqa": 5_897,
    "vizwiz": 5_266,
    "allava_laion": 13_496,
    "coco": 10_727,
    "vg": 40_242,
}
CAPTION_MODELS = ("gpt-4o-0806-nofilter-global", "gpt-4o-1120-nofilter-global")

OPENINGS = (
    "Okay, let's see. The question is: {question}",
    "Okay, so I'm trying to answer this: {question} Let me look at the image carefully.",
    "Alright, the task reads: {question} I need to figure out what the image shows first.",
)
STEPS = (
    "First, I should look at what the image shows and pick out the parts that matter here.",
    "The question is specific, so I'll focus on the relevant region and ignore the rest.",
    "Let me go through the elements one by one so that I don't miss anything.",
    "That gives me a first estimate, but I want to be careful with the details.",
    "Putting these observations together, the picture becomes clearer.",
    "I remember that a problem like this is usually solved by breaking it into smaller parts.",
    "So the key quantity is determined by the relation between these two values.",
    "There is no indication that anything is hidden or partly covered, so this seems complete.",
    "If I write this down step by step, each part follows from the previous one.",
    "The labels in the image are consistent with this reading, which supports it.",
)
AHA = (
    "Wait, let me double-check that, because it is easy to miscount here.",
    "Hmm, maybe I made a mistake in the previous step. Let me go through it again.",
    "Alternatively, I could approach it from the other direction and see if I get the same.",
    "But I should confirm that this matches what the question actually asks.",
)
SHAPES = ("cube", "sphere", "cylinder", "ball", "block")
COLOURS = ("red", "blue", "green", "yellow", "purple", "gray", "brown", "cyan")
OBJECTS = ("dog", "bus", "umbrella", "bicycle", "woman", "traffic light", "bench", "clock")
FUNCTIONS = ("sine", "cosine", "polynomial", "log", "exp")

Generated = tuple[str, str, str, Any, str, dict[str, Any], str]
# (id, image, question, gt, caption, meta, final answer text)


def _clevr(rng: random.Random, n: int) -> Generated:
    shape, total = rng.choice(SHAPES), rng.randint(3, 10)
    removed = rng.randint(0, total - 1)
    name = f"CLEVR_train_{n:06d}.png"
    objects = ", ".join(f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)}" for _ in range(total))
    caption = f"The image shows {total} objects on a neutral surface: {objects}."
    meta = {"caption_model_id": rng.choice(CAPTION_MODELS), "rationale": f"There are {objects}."}
    question = f"Subtract all {shape}s. How many objects are left?"
    left = total - removed
    return (
        f"clevr_math-{name}",
        f"clevr_math/{name}",
        question,
        left,
        caption,
        meta,
        f"**Answer:** There are {left} objects left.",
    )


def _geoqa(rng: random.Random, n: int) -> Generated:
    angle = rng.choice((30, 40, 50, 60, 70))
    letter = rng.choice("ABCD")
    options = "\n".join(f"{c}: {angle + 10 * i}°" for i, c in enumerate("ABCD"))
    question = (
        f"In the figure, AB is the diameter of circle O and angle ABC measures {angle}.0 degrees. "
        f"What is the measure of angle BDC?\nChoices:\n{options}"
    )
    meta = {"caption_model_id": rng.choice(CAPTION_MODELS), "rationale": ""}
    final = f"The angle follows from the inscribed angle theorem.\n\n**Answer:** {letter}"
    return (
        f"geoqa170k-geoqa_plus-{n}",
        f"geoqa170k/geoqa_plus-{n}.png",
        question,
        letter,
        "",
        meta,
        final,
    )


def _synthesis(rng: random.Random, n: int) -> Generated:
    a, b = rng.randint(-9, 9) or 1, rng.randint(1, 9)
    function = rng.choice(FUNCTIONS)
    tag = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4))
    expression = f"y = {a} * sin({b} * x)"
    gt = (
        f"Step 1: Substitute the point (pi/{2 * b}, {a}) into the function: "
        f"{a} = c * sin({b} * (pi/{2 * b})).\nStep 2: Simplify: {a} = c * 1.\n"
        f"Step 3: Solve for c: c = {a}.\n\n†Answer: {expression}."
    )
    meta = {
        "text_question": f"The function y = c * sin({b} * x) goes through the point "
        f"(pi/{2 * b}, {a}). What is the function's equation?"
    }
    return (
        f"synthesis-{n}",
        f"synthesis/gen_func-func_{function}_{22_000_000 + n}_{tag}.png",
        "What is the function's equation?",
        gt,
        "",
        meta,
        f"**Final Answer:**\n\\[\n\\boxed{{{expression}}}\n\\]",
    )


def _arxivqa(rng: random.Random, n: int) -> Generated:
    letter = rng.choice("ABCD")
    paper = f"{1501 + n % 800}.{n % 100_000:05d}_{rng.randint(0, 3)}"  # unique per record
    question = (
        "What does the trend in the main panel suggest about the system's behaviour over time? "
        "Choose from the following options\nA) It increases continuously.\n"
        "B) It fluctuates without a pattern.\nC) It stabilises after an initial decrease.\n"
        "D) It decreases until the end of the range."
    )
    caption = (
        "The image is a scientific plot with three lines (blue dash-dotted, red dashed, green "
        "solid) and an inset; the x-axis is labelled t from 0.0 to 1.5e6 and the y-axis is "
        "labelled heat flux x10^-3."
    )
    meta = {"caption_model_id": rng.choice(CAPTION_MODELS), "rationale": "The lines level off."}
    return (
        f"arxivqa-{paper}-{n}",
        f"arxivqa/{paper}.jpg",
        question,
        letter,
        caption,
        meta,
        f"**Answer:** {letter}",
    )


def _docvqa(rng: random.Random, n: int) -> Generated:
    month = rng.choice(("March", "June", "October"))
    date = f"{month} {rng.randint(1, 28)}, {rng.randint(1960, 2000)}"
    caption = f"A scanned typed letter on company letterhead, dated {date}, with a signature."
    return (
        f"docvqa-{n}",
        f"docvqa/{rng.getrandbits(40):010x}_{n}.png",
        "What is the date mentioned in this letter?",
        date,
        caption,
        {"caption_model_id": rng.choice(CAPTION_MODELS)},
        f"The letter is dated {date}.",
    )


def _vizwiz(rng: random.Random, n: int) -> Generated:
    thing = f"a can of {rng.choice(('soup', 'beans', 'tomatoes', 'corn'))}"
    return (
        f"vizwiz-VizWiz_train_{n:08d}",
        f"vizwiz/VizWiz_train_{n:08d}.jpg",
        "What is this?",
        thing,
        f"A close-up, slightly blurry photo of {thing} held in a hand.",
        {"caption_model_id": rng.choice(CAPTION_MODELS)},
        f"This is {thing}.",
    )


def _allava(rng: random.Random, n: int) -> Generated:
    place = rng.choice(("a map of a shopping district", "a kitchen", "a city street at night"))
    gt = (
        f"The image shows {place}. Its layout suggests a busy, central area that people visit "
        "often, close to major roads and well-known shops, so it likely serves as a landmark."
    )
    caption = f"The image displays {place} with several labelled landmarks and streets."
    meta = {
        "caption_model_id": "gpt-1106-preview",
        "url": f"https://example.org/images/{n}.jpg",
        "llava-v1.5-7b-ppl-caption": round(rng.uniform(5, 30), 3),
    }
    image_id = 100_000_000 + n
    return (
        f"allava-allava_laion_{image_id}",
        f"/allava_laion/images/{image_id}.jpeg",  # the release writes this one with a slash
        f"Considering the details of {place}, what could be its significance in the local area?",
        gt,
        caption,
        meta,
        f"It appears to be a central spot in {place}, convenient and well connected.",
    )


def _box(rng: random.Random) -> str:
    x1, y1 = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
    x2, y2 = x1 + rng.uniform(0.05, 0.4), y1 + rng.uniform(0.05, 0.4)
    return "[" + ", ".join(f"{v:.2f}" for v in (x1, y1, x2, y2)) + "]"


def _grounding(folder: str, image: str) -> Callable[[random.Random, int], Generated]:
    def generate(rng: random.Random, n: int) -> Generated:
        phrase = f"the {rng.choice(COLOURS)} {rng.choice(OBJECTS)} on the left"
        box = _box(rng)
        question = (
            "Please provide the bounding box coordinate of the region this sentence "
            f"describes: {phrase}."
        )
        return (
            f"llava_cot-{folder}-{n}",
            image.format(n=n),
            question,
            box,
            "",
            {"caption_model_id": rng.choice(CAPTION_MODELS)},
            box,
        )

    return generate


GENERATORS: dict[str, Callable[[random.Random, int], Generated]] = {
    "clevr_math": _clevr,
    "geoqa170k": _geoqa,
    "synthesis": _synthesis,
    "arxivqa": _arxivqa,
    "docvqa": _docvqa,
    "vizwiz": _vizwiz,
    "allava_laion": _allava,
    "coco": _grounding("coco", "coco/train2017/{n:012d}.jpg"),
    "vg": _grounding("vg", "vg/VG_100K/{n}.jpg"),
}


def _thinking(rng: random.Random, question: str) -> str:
    """A few kilobytes of R1-style reasoning; about half carry an aha keyword."""
    paragraphs = [rng.choice(OPENINGS).format(question=question.split("\n", 1)[0])]
    for _ in range(rng.randint(7, 14)):
        paragraphs.append(" ".join(rng.choice(STEPS) for _ in range(rng.randint(3, 6))))
    if rng.random() < 0.5:
        paragraphs.insert(rng.randint(2, len(paragraphs)), rng.choice(AHA))
    paragraphs.append("So the answer should be clear now.")
    return "\n\n".join(paragraphs)


def release_record(rng: random.Random, n: int) -> dict[str, Any]:
    """One record in the released format, of a source drawn by the paper's proportions."""
    source = rng.choices(list(SOURCE_WEIGHTS), weights=list(SOURCE_WEIGHTS.values()))[0]
    record_id, image, question, gt, caption, meta, final = GENERATORS[source](rng, n)
    think = _thinking(rng, question)
    tail = f"<answer>{final}</answer>" if rng.random() < 0.5 else final
    return {
        "id": record_id,
        "image": image,
        "question": question,
        "gt": gt,
        "ds_answer": f"<think>\n{think}\n</think>\n\n{tail}",
        "caption": caption,
        "meta": meta,
    }


def write_release_file(
    path: Path,
    target_bytes: int,
    fmt: Literal["array", "jsonl"] = "array",
    seed: int = 0,
    image_root: Path | None = None,
    max_images: int = 32,
) -> int:
    """Write records to ``path`` until it holds at least ``target_bytes``; return how many.

    ``fmt`` picks a JSON array or JSON lines. With ``image_root`` (the release's ``images/``
    folder), tiny images are written for the first ``max_images`` records.
    """
    if fmt not in ("array", "jsonl"):
        raise ValueError(f"fmt must be 'array' or 'jsonl', got {fmt!r}")
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = written = 0
    with path.open("wb") as handle:
        if fmt == "array":
            written += handle.write(b"[\n")
        while written < target_bytes or count == 0:
            record = release_record(rng, count)
            text = json.dumps(record, ensure_ascii=False)
            if fmt == "array":
                text = (",\n" if count else "") + text
            else:
                text += "\n"
            written += handle.write(text.encode("utf-8"))
            if image_root is not None and count < max_images:
                write_tiny_image(image_root / record["image"].lstrip("/"), rng)
            count += 1
        if fmt == "array":
            handle.write(b"\n]\n")
    return count


def write_tiny_image(path: Path, rng: random.Random) -> None:
    """An 8x8 single-colour image in the format its extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = tuple(rng.randrange(256) for _ in range(3))
    Image.new("RGB", (8, 8), colour).save(path)
