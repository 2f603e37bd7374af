"""The synthetic CLEVR-Math-style generator: determinism, rendering, and exact answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from vlaa.data.synthetic import (
    BACKGROUND,
    COLOURS,
    SHAPES,
    SIZES,
    SOURCE,
    SceneGraph,
    SceneObject,
    SyntheticConfig,
    SyntheticMix,
    generate,
    matches_group,
    render,
)
from vlaa.records import Record

ALL_FAMILIES = SyntheticMix(digit=1, mcq=1, iou=1)


def _generate(root: Path, **overrides: object) -> list[tuple[Record, SceneGraph]]:
    settings: dict[str, object] = {"num_samples": 90, "mix": ALL_FAMILIES, "seed": 3}
    settings.update(overrides)
    return list(generate(SyntheticConfig.model_validate(settings), root))


@pytest.fixture(scope="module")
def samples(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[tuple[Record, SceneGraph]]]:
    root = tmp_path_factory.mktemp("synthetic")
    return root, _generate(root, num_samples=240)


def _obj(shape: str, colour: str, size: str = "large", row: int = 0, col: int = 0) -> SceneObject:
    side = 0.26 if size == "large" else 0.15
    x0, y0 = col / 3 + 0.02, row / 3 + 0.02
    return SceneObject(
        shape=shape,
        colour=colour,
        size=size,
        x=x0 + side / 2,
        y=y0 + side / 2,
        box=[x0, y0, x0 + side, y0 + side],
        row=row,
        col=col,
    )


def _options(question: str) -> dict[str, str]:
    return dict(re.findall(r"\b([A-D])\. ([a-z]+)", question))


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_records_and_png_bytes(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a")
    second = _generate(tmp_path / "b")
    assert [r.model_dump_json() for r, _ in first] == [r.model_dump_json() for r, _ in second]
    for record, _ in first:
        assert (tmp_path / "a" / record.image).read_bytes() == (
            tmp_path / "b" / record.image
        ).read_bytes()


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a", num_samples=20)
    other = _generate(tmp_path / "b", num_samples=20, seed=4)
    assert [r.question for r, _ in first] != [r.question for r, _ in other]


def test_records_follow_the_contract(samples: tuple[Path, list[tuple[Record, SceneGraph]]]) -> None:
    root, pairs = samples
    for index, (record, scene) in enumerate(pairs):
        assert record.id == f"synthetic-{index:06d}"
        assert record.image == f"synthetic/{index:06d}.png"
        assert record.source == SOURCE
        assert record.meta["scene"] == scene.to_dict()
        assert SceneGraph.from_dict(record.meta["scene"]) == scene
        assert (root / record.image).is_file()
    assert {record.reward_type for record, _ in pairs} == {"digit", "mcq", "iou"}


def test_default_mix_is_digit_and_mcq_only(tmp_path: Path) -> None:
    pairs = list(generate(SyntheticConfig(num_samples=40), tmp_path))
    assert {record.reward_type for record, _ in pairs} == {"digit", "mcq"}


def test_config_rejects_bad_settings() -> None:
    with pytest.raises(ValidationError, match="max_objects"):
        SyntheticConfig(min_objects=5, max_objects=3)
    with pytest.raises(ValidationError, match="positive weight"):
        SyntheticConfig(mix=SyntheticMix(digit=0, mcq=0, iou=0))
    with pytest.raises(ValidationError):
        SyntheticConfig(unknown_field=1)


# ------------------------------------------------------------------------------ rendering


def test_image_size_is_configurable(tmp_path: Path) -> None:
    record, _ = _generate(tmp_path, num_samples=1, image_size=64)[0]
    with Image.open(tmp_path / record.image) as image:
        assert image.size == (64, 64)
        assert image.mode == "RGB"


def test_render_draws_each_object_in_its_box_and_colour() -> None:
    scene = SceneGraph(
        width=120,
        height=120,
        objects=[
            _obj("cube", "red", row=0, col=0),
            _obj("sphere", "blue", "small", row=1, col=2),
            _obj("cone", "green", row=2, col=1),
        ],
    )
    image = render(scene)
    for obj in scene.objects:
        centre = (round(obj.x * 120), round(obj.y * 120) + 2)  # a cone is widest lower down
        assert image.getpixel(centre) == COLOURS[obj.colour]
        outside = (round(obj.box[2] * 120) + 1, round(obj.y * 120))
        assert image.getpixel(outside) == BACKGROUND
    # A cube fills its corners, a sphere and a cone do not.
    cube, sphere, cone = scene.objects
    assert (
        image.getpixel((round(cube.box[0] * 120) + 1, round(cube.box[1] * 120) + 1)) != BACKGROUND
    )
    assert image.getpixel((round(sphere.box[0] * 120), round(sphere.box[1] * 120))) == BACKGROUND
    assert image.getpixel((round(cone.box[0] * 120) + 1, round(cone.box[1] * 120) + 1)) == (
        BACKGROUND
    )


def test_objects_never_overlap_and_stay_in_range(
    samples: tuple[Path, list[tuple[Record, SceneGraph]]],
) -> None:
    for _, scene in samples[1]:
        assert 1 <= len(scene.objects) <= 4
        boxes = [obj.box for obj in scene.objects]
        for i, a in enumerate(boxes):
            assert 0 <= a[0] < a[2] <= 1 and 0 <= a[1] < a[3] <= 1
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_object_count_is_configurable(tmp_path: Path) -> None:
    pairs = _generate(tmp_path, num_samples=30, mix=SyntheticMix(digit=1, mcq=0), max_objects=6)
    counts = {len(scene.objects) for _, scene in pairs}
    assert max(counts) > 4 and max(counts) <= 6


# ------------------------------------------------------------------------------ answers


def test_matches_group_by_hand() -> None:
    red_cube = _obj("cube", "red", "small")
    assert matches_group(red_cube, "red objects")
    assert matches_group(red_cube, "cubes")
    assert matches_group(red_cube, "small objects")
    assert matches_group(red_cube, "red cubes")
    assert not matches_group(red_cube, "blue cubes")
    assert not matches_group(red_cube, "red spheres")
    assert not matches_group(red_cube, "large objects")


def _expected_count(question: str, scene: SceneGraph) -> int:
    """An independent reading of the digit questions."""
    if question == "How many objects are there?":
        return len(scene.objects)
    group = re.fullmatch(r"Subtract all (.+)\. How many objects are left\?", question)
    assert group is not None, question
    words = group.group(1).split()
    noun = words[-1]

    def removed(obj: SceneObject) -> bool:
        shape_ok = noun == "objects" or noun == obj.shape + "s"
        return shape_ok and all(w in (obj.colour, obj.size) for w in words[:-1])

    return len(scene.objects) - sum(removed(obj) for obj in scene.objects)


def test_digit_answers_follow_from_the_scene(
    samples: tuple[Path, list[tuple[Record, SceneGraph]]],
) -> None:
    digits = [(r, s) for r, s in samples[1] if r.reward_type == "digit"]
    assert len(digits) > 40
    for record, scene in digits:
        assert record.answer == str(_expected_count(record.question, scene))
    assert {record.answer for record, _ in digits} >= {"0", "1", "2"}


def test_mcq_answers_name_the_unique_target(
    samples: tuple[Path, list[tuple[Record, SceneGraph]]],
) -> None:
    mcqs = [(r, s) for r, s in samples[1] if r.reward_type == "mcq"]
    assert len(mcqs) > 40
    for record, scene in mcqs:
        options = _options(record.question)
        assert sorted(options) == ["A", "B", "C", "D"]
        assert len(set(options.values())) == 4
        assert 1 <= len(scene.objects) <= 3
        chosen = options[str(record.answer)]
        if match := re.match(r"What colour is the (\w+) (\w+)\?", record.question):
            found = [o for o in scene.objects if (o.size, o.shape) == match.groups()]
            assert len(found) == 1 and found[0].colour == chosen and found[0].size == "large"
        elif match := re.match(r"What shape is the (\w+) object\?", record.question):
            found = [o for o in scene.objects if o.colour == match.group(1)]
            assert len(found) == 1 and found[0].shape == chosen and found[0].size == "large"
        else:
            match = re.match(r"What size is the (\w+) (\w+)\?", record.question)
            assert match is not None, record.question
            found = [o for o in scene.objects if (o.colour, o.shape) == match.groups()]
            assert len(found) == 1 and found[0].size == chosen
            assert chosen in SIZES
    # The options are shuffled: the right letter is not always the same.
    assert {record.answer for record, _ in mcqs} == {"A", "B", "C", "D"}


def test_iou_answers_are_the_targets_box(
    samples: tuple[Path, list[tuple[Record, SceneGraph]]],
) -> None:
    root, pairs = samples
    boxes = [(r, s) for r, s in pairs if r.reward_type == "iou"]
    assert len(boxes) > 40
    for record, scene in boxes:
        match = re.fullmatch(r"Give the bounding box of the (\w+) (\w+)\.", record.question)
        assert match is not None
        colour, shape = match.groups()
        assert colour in COLOURS and shape in SHAPES
        found = [o for o in scene.objects if (o.colour, o.shape) == (colour, shape)]
        assert len(found) == 1
        assert record.answer == found[0].box
        assert isinstance(record.answer, list) and len(record.answer) == 4
    # Hand check on pixels: the box's centre has the target's colour.
    record, scene = boxes[0]
    assert isinstance(record.answer, list)
    x1, y1, x2, y2 = record.answer
    with Image.open(root / record.image) as image:
        size = image.size[0]
        centre = (round((x1 + x2) / 2 * size), round((y1 + y2) / 2 * size) + 2)
        colour = re.findall(r"of the (\w+)", record.question)[0]
        assert image.getpixel(centre) == COLOURS[colour]
