"""CLEVR-Math-style synthetic scenes rendered with Pillow (the default run's data source).

Each sample is a scene graph (objects with shape, colour, size and position on a plain
background), a PNG rendered from it and one question whose answer is computed exactly from the
graph. Everything is derived from ``(seed, index)``, so the same config always writes
byte-identical PNGs and records.

Shapes are drawn so a tiny model can tell them apart at 112x112: a cube is a square, a sphere a
circle and a cone a triangle. Objects sit in distinct cells of a 3x3 grid (jittered inside the
cell), which keeps them from overlapping and makes "top left" / "centre" descriptions exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlaa.records import Record

SOURCE = "synthetic-clevr-math"
IMAGE_DIR = "synthetic"

SHAPES: tuple[str, ...] = ("cube", "sphere", "cone")
# What each shape looks like on the image; the teacher names the drawn form in its reasoning.
SHAPE_FORMS: dict[str, str] = {"cube": "square", "sphere": "circle", "cone": "triangle"}
# A shape name the scenes never contain: the fourth option of "What shape ...?" questions.
DISTRACTOR_SHAPE = "cylinder"
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "blue": (40, 90, 215),
    "green": (40, 160, 60),
    "yellow": (235, 195, 20),
    "purple": (140, 60, 180),
    "gray": (120, 120, 120),
}
SIZES: tuple[str, ...] = ("large", "small")
# Sizes that never occur: the other two options of "What size ...?" questions.
DISTRACTOR_SIZES: tuple[str, ...] = ("medium", "tiny")
# Object side as a share of the image side; a grid cell is a third of it.
SIZE_FRACTION: dict[str, float] = {"large": 0.26, "small": 0.15}
BACKGROUND: tuple[int, int, int] = (238, 238, 238)
GRID = 3
MAX_OBJECTS = GRID * GRID
OPTION_LETTERS = "ABCD"

Family = Literal["digit", "mcq", "iou"]


class SceneObject(BaseModel):
    """One object of a scene; positions are normalised to [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    shape: str
    colour: str
    size: str
    x: float = Field(description="centre, left to right")
    y: float = Field(description="centre, top to bottom")
    box: list[float] = Field(description="[x1, y1, x2, y2], normalised")
    row: int
    col: int

    def phrase(self) -> str:
        """'a large red cube': how the captioner and the solver name the object."""
        return f"a {self.size} {self.colour} {self.shape}"

    def place(self) -> str:
        """Where the object is, in words that match its grid cell."""
        vertical = ("top", "middle", "bottom")[self.row]
        horizontal = ("left", "centre", "right")[self.col]
        if vertical == "middle" and horizontal == "centre":
            return "in the centre"
        if vertical == "middle":
            return f"on the middle {horizontal}"
        return f"at the {vertical} {horizontal}"


class SceneGraph(BaseModel):
    """A rendered scene: the CLEVR "scene synthesis info" passed to the teacher."""

    model_config = ConfigDict(extra="forbid")

    width: int
    height: int
    background: str = "plain light gray"
    objects: list[SceneObject]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in ``record.meta["scene"]``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneGraph:
        return cls.model_validate(data)


class SyntheticMix(BaseModel):
    """Relative weights of the question families (need not sum to 1)."""

    model_config = ConfigDict(extra="forbid")

    digit: float = Field(default=0.5, ge=0)
    mcq: float = Field(default=0.5, ge=0)
    iou: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> SyntheticMix:
        if self.digit + self.mcq + self.iou <= 0:
            raise ValueError("at least one question family needs a positive weight")
        return self


class SyntheticConfig(BaseModel):
    """How many scenes to draw, how big, and which questions to ask about them."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    num_samples: int = Field(default=600, ge=1)
    image_size: int = Field(default=112, ge=48, le=1024)
    mix: SyntheticMix = Field(default_factory=SyntheticMix)
    min_objects: int = Field(default=1, ge=1, le=MAX_OBJECTS)
    max_objects: int = Field(default=4, ge=1, le=MAX_OBJECTS)
    start_index: int = Field(default=0, ge=0, description="index of the first sample (its id)")

    @model_validator(mode="after")
    def _object_range(self) -> SyntheticConfig:
        if self.min_objects > self.max_objects:
            raise ValueError(
                f"min_objects ({self.min_objects}) exceeds max_objects ({self.max_objects})"
            )
        return self


class _Question(BaseModel):
    text: str
    answer: str | list[float]
    reward_type: Family
    family: str


def sample_id(index: int) -> str:
    return f"synthetic-{index:06d}"


def image_path(index: int) -> str:
    """The image's path relative to the image root."""
    return f"{IMAGE_DIR}/{index:06d}.png"


def _rng(seed: int, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so this is stable across processes.
    return random.Random(f"vlaa-synthetic:{seed}:{index}")


def _place(
    rng: random.Random, specs: list[tuple[str, str, str]], image_size: int
) -> list[SceneObject]:
    """Put each (shape, colour, size) in its own grid cell, jittered inside the cell."""
    cells = rng.sample(range(GRID * GRID), len(specs))
    cell_size = image_size / GRID
    objects = []
    for (shape, colour, size), cell in zip(specs, cells, strict=True):
        row, col = divmod(cell, GRID)
        side = max(4, round(SIZE_FRACTION[size] * image_size))
        slack = int(cell_size - side - 2)
        x0 = int(col * cell_size) + 1 + rng.randint(0, max(0, slack))
        y0 = int(row * cell_size) + 1 + rng.randint(0, max(0, slack))
        box = [round(v / image_size, 4) for v in (x0, y0, x0 + side, y0 + side)]
        objects.append(
            SceneObject(
                shape=shape,
                colour=colour,
                size=size,
                x=round((x0 + side / 2) / image_size, 4),
                y=round((y0 + side / 2) / image_size, 4),
                box=box,
                row=row,
                col=col,
            )
        )
    return objects


def _random_spec(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(SIZES)


def render(scene: SceneGraph) -> Image.Image:
    """Draw the scene: flat shapes with a darker outline on a plain background."""
    image = Image.new("RGB", (scene.width, scene.height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        x0, y0, x1, y1 = (
            round(obj.box[0] * scene.width),
            round(obj.box[1] * scene.height),
            round(obj.box[2] * scene.width) - 1,
            round(obj.box[3] * scene.height) - 1,
        )
        fill = COLOURS[obj.colour]
        outline = tuple(c // 2 for c in fill)
        if obj.shape == "cube":
            draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline)
        elif obj.shape == "sphere":
            draw.ellipse((x0, y0, x1, y1), fill=fill, outline=outline)
        else:
            draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill, outline=outline)
    return image


def _plural(shape: str) -> str:
    return f"{shape}s"


def _digit_question(rng: random.Random, objects: list[SceneObject]) -> _Question:
    """CLEVR-Math counting: count everything, or subtract a group that is in the scene."""
    template = rng.choice(("count", "colour", "shape", "size", "colour_shape"))
    if template == "count":
        return _Question(
            text="How many objects are there?",
            answer=str(len(objects)),
            reward_type="digit",
            family="count",
        )
    anchor = rng.choice(objects)
    group = {
        "colour": f"{anchor.colour} objects",
        "shape": _plural(anchor.shape),
        "size": f"{anchor.size} objects",
        "colour_shape": f"{anchor.colour} {_plural(anchor.shape)}",
    }[template]
    removed = [obj for obj in objects if matches_group(obj, group)]
    return _Question(
        text=f"Subtract all {group}. How many objects are left?",
        answer=str(len(objects) - len(removed)),
        reward_type="digit",
        family=f"subtract_{template}",
    )


def matches_group(obj: SceneObject, group: str) -> bool:
    """Whether ``obj`` belongs to a group named like 'red objects', 'cubes', 'red cubes'."""
    words = group.split()
    noun = words[-1]
    if noun != "objects" and obj.shape != noun.removesuffix("s"):
        return False
    return all(word in (obj.colour, obj.size) for word in words[:-1])


def _options(rng: random.Random, correct: str, pool: list[str]) -> tuple[str, str]:
    """Four shuffled options holding ``correct``; return (options text, answer letter)."""
    distractors = rng.sample([value for value in pool if value != correct], 3)
    choices = [correct, *distractors]
    rng.shuffle(choices)
    text = " ".join(
        f"{letter}. {value}" for letter, value in zip(OPTION_LETTERS, choices, strict=True)
    )
    return text, OPTION_LETTERS[choices.index(correct)]


def _mcq_specs(rng: random.Random, kind: str, count: int) -> list[tuple[str, str, str]]:
    """A target plus others that differ from it in both shape and colour (so it is unique)."""
    shapes = rng.sample(SHAPES, count)
    colours = rng.sample(list(COLOURS), count)
    target_size = rng.choice(SIZES) if kind == "size" else "large"
    others = [(shapes[i], colours[i], rng.choice(SIZES)) for i in range(1, count)]
    return [(shapes[0], colours[0], target_size), *others]


def _mcq_for(rng: random.Random, kind: str, target: SceneObject) -> _Question:
    if kind == "colour":
        stem = f"What colour is the {target.size} {target.shape}?"
        options, letter = _options(rng, target.colour, list(COLOURS))
    elif kind == "shape":
        stem = f"What shape is the {target.colour} object?"
        options, letter = _options(rng, target.shape, [*SHAPES, DISTRACTOR_SHAPE])
    else:
        stem = f"What size is the {target.colour} {target.shape}?"
        options, letter = _options(rng, target.size, [*SIZES, *DISTRACTOR_SIZES])
    return _Question(text=f"{stem} {options}", answer=letter, reward_type="mcq", family=kind)


def _iou_specs(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """A target plus others, none sharing both its colour and its shape."""
    target = _random_spec(rng)
    specs = [target]
    while len(specs) < count:
        spec = _random_spec(rng)
        if spec[:2] != target[:2]:
            specs.append(spec)
    return specs


def _make_sample(config: SyntheticConfig, index: int) -> tuple[SceneGraph, _Question]:
    rng = _rng(config.seed, index)
    weights = config.mix
    family = rng.choices(("digit", "mcq", "iou"), (weights.digit, weights.mcq, weights.iou))[0]
    count = rng.randint(config.min_objects, config.max_objects)
    if family == "mcq":
        kind = rng.choice(("colour", "shape", "size"))
        # Three shapes give at most three objects that all differ from the target.
        specs = _mcq_specs(rng, kind, min(count, len(SHAPES)))
    elif family == "iou":
        specs = _iou_specs(rng, count)
    else:
        specs = [_random_spec(rng) for _ in range(count)]
    objects = _place(rng, specs, config.image_size)
    scene = SceneGraph(width=config.image_size, height=config.image_size, objects=objects)
    if family == "mcq":
        question = _mcq_for(rng, kind, objects[0])
    elif family == "iou":
        target = objects[0]
        question = _Question(
            text=f"Give the bounding box of the {target.colour} {target.shape}.",
            answer=list(target.box),
            reward_type="iou",
            family="box",
        )
    else:
        question = _digit_question(rng, objects)
    return scene, question


def generate(config: SyntheticConfig, image_root: Path) -> Iterator[tuple[Record, SceneGraph]]:
    """Render ``config.num_samples`` scenes under ``image_root``; yield (record, scene graph).

    Images land at ``image_root / "synthetic/NNNNNN.png"``; the record's ``image`` is that
    relative path and ``meta["scene"]`` holds the scene graph for the teacher.
    """
    (image_root / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    for index in range(config.start_index, config.start_index + config.num_samples):
        scene, question = _make_sample(config, index)
        relative = image_path(index)
        render(scene).save(image_root / relative, format="PNG")
        record = Record(
            id=sample_id(index),
            source=SOURCE,
            image=relative,
            question=question.text,
            answer=question.answer,
            reward_type=question.reward_type,
            meta={"scene": scene.to_dict(), "question_family": question.family},
        )
        yield record, scene
