"""The hostile-input corpus (issue 15): nothing crashes, every bad row is quarantined with its
reason, memory stays bounded, and no file outside a source reaches a split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fixtures.hostile import deep_row, solid_png
from PIL import Image

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.engine import build_dataset
from vlaa.data.limits import InputLimits
from vlaa.data.offline_teacher import OfflineTeacher
from vlaa.data.sources.base import SourceSpec
from vlaa.data.sources.release import SFT_FILE, open_release
from vlaa.data.synthetic import SyntheticConfig, SyntheticMix, generate
from vlaa.data.validation import Rejected, Validator
from vlaa.records import Record, read_records, write_records

SPLITS = ("sft", "rl", "eval")
MEMORY_CAP_MIB = 512


def _good_rows(folder: Path, count: int, seed: int = 5) -> list[dict[str, Any]]:
    mix = SyntheticMix(digit=1, mcq=1, iou=1)
    config = SyntheticConfig(num_samples=count, seed=seed, mix=mix)
    records = [record for record, _ in generate(config, folder / "images")]
    write_records(folder / "records.jsonl", records)
    return [record.model_dump(mode="json") for record in records]


def _build(root: Path, config: BuildDatasetConfig, teacher: Any = None) -> dict[str, Any]:
    dirs = [root / name for name in (*SPLITS, "card")]
    card = build_dataset(config, *dirs, teacher=teacher)
    text = (root / "card" / "quarantine.jsonl").read_text(encoding="utf-8")
    drops = (root / "card" / "drops.jsonl").read_text(encoding="utf-8")
    kept = [r for split in SPLITS for r in read_records(root / split / "records.jsonl")]
    return {
        "card": card,
        "quarantine": [json.loads(line) for line in text.splitlines()],
        "drops": [json.loads(line) for line in drops.splitlines()],
        "kept": kept,
    }


def _write_image(folder: Path, name: str, data: bytes) -> str:
    (folder / "images" / name).write_bytes(data)
    return name


def _png(width: int, height: int, noise: bool = False) -> bytes:
    import io

    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (10, 200, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_hostile_rows_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    good = _good_rows(folder, 24)
    by_type = {kind: [row for row in good if row["reward_type"] == kind] for kind in ("iou", "mcq")}
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png(20, 20))
    (folder / "images" / "link-out.png").symlink_to(outside)
    (folder / "images" / "link-in.png").symlink_to(folder / "images" / good[0]["image"])
    os.mkfifo(folder / "images" / "fifo.png")

    def row(index: int, name: str, **fields: Any) -> dict[str, Any]:
        base = good[index]
        return {**base, "id": name, "question": f"{name}: {base['question']}", **fields}

    iou, mcq = by_type["iou"][0], by_type["mcq"][0]
    assert "A." in mcq["question"] and "D." in mcq["question"]
    named: dict[str, tuple[dict[str, Any], str]] = {
        "long-question": (row(1, "long-question", question="Why? " * 2000), "question_too_long"),
        "nan-digit": (row(2, "nan-digit", reward_type="digit", answer="nan"), "non_finite_number"),
        "inf-digit": (row(2, "inf-digit", reward_type="digit", answer="-inf"), "non_finite_number"),
        "huge-digit": (
            row(2, "huge-digit", reward_type="digit", answer="1e999"),
            "non_finite_number",
        ),
        "box-outside": (
            {
                **iou,
                "id": "box-outside",
                "question": "1 " + iou["question"],
                "answer": [0.1, 0.2, 1.5, 0.9],
            },
            "box_out_of_range",
        ),
        "pixel-box": (
            {
                **iou,
                "id": "pixel-box",
                "question": "2 " + iou["question"],
                "answer": [12, 30, 200, 150],
            },
            "box_out_of_range",
        ),
        "no-area": (
            {
                **iou,
                "id": "no-area",
                "question": "3 " + iou["question"],
                "answer": [0.5, 0.5, 0.2, 0.9],
            },
            "invalid_box",
        ),
        "mcq-outside": (
            {**mcq, "id": "mcq-outside", "answer": "E", "question": "x " + mcq["question"]},
            "answer_not_option",
        ),
        "wide-image": (
            row(3, "wide-image", image=_write_image(folder, "wide.png", _png(3000, 10))),
            "image_aspect_ratio",
        ),
        "pixel-bomb": (
            row(4, "pixel-bomb", image=_write_image(folder, "bomb.png", solid_png(13000, 13000))),
            "image_too_many_pixels",
        ),
        "big-file": (
            row(5, "big-file", image=_write_image(folder, "noise.png", _png(600, 600, noise=True))),
            "image_too_large",
        ),
        "link-out": (row(6, "link-out", image="link-out.png"), "parent_image_path"),
        "link-in": (row(7, "link-in", image="link-in.png"), "symlink_image"),
        "fifo": (row(8, "fifo", image="fifo.png"), "unreadable_image"),
    }
    assert len((folder / "images" / "bomb.png").read_bytes()) < 600_000  # small on disk
    lines = [json.dumps(record).encode() for record in good]
    lines += [json.dumps(record).encode() for record, _ in named.values()]
    # Rows that cannot be parsed (or not safely) are named by their line.
    unparsed = {
        "json_too_deep": deep_row(200_000, id="deep", source="synthetic"),
        "row_too_large": json.dumps(row(9, "ten-mb-question", question="Q" * 10_000_000)).encode(),
        "non_finite_number": json.dumps(
            row(10, "nan-box", answer=[float("nan"), 0, 1, 1])
        ).encode(),
        "invalid_json": json.dumps(row(11, "huge-int", answer=1))
        .encode()
        .replace(b'"answer": 1', b'"answer": ' + b"7" * 5000),
    }
    infinite = json.dumps(row(12, "inf-box", answer=[0.1, 0.1, 0.5, 0.5])).encode()
    unparsed_lines = {**unparsed, "infinite": infinite.replace(b"0.5, 0.5", b"0.5, 1e999")}
    first = len(lines) + 1
    lines += list(unparsed_lines.values())
    (folder / "records.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    limits = InputLimits(max_image_bytes=700_000)
    config = BuildDatasetConfig(source=str(folder), eval_size=2, max_drop_share=0.9, limits=limits)
    build = _build(tmp_path / "out", config, teacher=OfflineTeacher(error_rate=0.0))

    reasons = {entry["id"] or entry["location"]: entry["reason"] for entry in build["quarantine"]}
    expected = {name: reason for name, (_, reason) in named.items()}
    for offset, reason in enumerate(unparsed_lines):
        expected[f"records.jsonl:{first + offset}"] = (
            "non_finite_number" if reason == "infinite" else reason
        )
    assert reasons == expected
    assert all(entry["detail"] for entry in build["quarantine"])
    card = build["card"]
    assert card.quarantined == len(expected)
    assert card.original == len(good) + len(expected)
    assert card.unaccounted() == {}
    assert len(build["kept"]) + card.dropped == len(good)
    for record in build["kept"]:  # nothing kept that training cannot use
        assert len(record.question) <= limits.max_question_chars
        if record.reward_type == "iou":
            assert all(0 <= value <= 1 for value in record.answer)  # type: ignore[union-attr]


def test_deep_items_in_release_files_are_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    good = {
        "id": "ok",
        "image": "clevr_math/a.png",
        "question": "How many?",
        "gt": 3,
        "ds_answer": "<think>Count.</think> 3",
    }
    deep = deep_row(200_000, id="deep", image="clevr_math/a.png")
    for fmt, joined in (
        ("array", b"[" + json.dumps(good).encode() + b",\n" + deep + b",\n"),
        ("jsonl", json.dumps(good).encode() + b"\n" + deep + b"\n"),
    ):
        folder = tmp_path / fmt
        folder.mkdir()
        tail = json.dumps({**good, "id": "after"}).encode()
        content = joined + tail + (b"]" if fmt == "array" else b"\n")
        (folder / SFT_FILE).write_bytes(content)
        rows = list(open_release(SourceSpec(kind="release", path=str(folder)), folder).rows)
        assert [row.problem[0] if row.problem else row.data["id"] for row in rows] == [  # type: ignore[index]
            "ok",
            "json_too_deep",
            "after",
        ], fmt


def test_source_readers_bound_every_line_and_item(tmp_path: Path) -> None:
    from vlaa.data.sources import open_source

    arrays = tmp_path / "geoqa"
    arrays.mkdir()
    deep = deep_row(50_000, image="a.png")
    (arrays / "qa_tuning.json").write_bytes(b"[" + deep + b", " + deep + b"]")
    lines = tmp_path / "arxivqa"
    lines.mkdir()
    big = json.dumps({"id": "x", "question": "Q" * 2_000_000}).encode()
    (lines / "arxivqa.jsonl").write_bytes(deep + b"\n" + big + b"\n" + b"[" * 5000 + b"\n")

    array_rows = list(open_source(SourceSpec(kind="geoqa170k", path=str(arrays))).rows)
    line_rows = list(open_source(SourceSpec(kind="arxivqa", path=str(lines))).rows)
    assert [row.problem[0] for row in array_rows] == ["json_too_deep"] * 2  # type: ignore[index]
    assert [row.problem[0] for row in line_rows] == [  # type: ignore[index]
        "json_too_deep",
        "row_too_large",
        "json_too_deep",
    ]


_MEMORY_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from vlaa.data.limits import InputLimits
    from vlaa.data.sources.base import SourceSpec
    from vlaa.data.sources.release import open_release
    from vlaa.data.validation import Rejected, Validator

    root = Path(sys.argv[1])
    seen = {}
    for fmt in ("array", "jsonl"):
        folder = root / fmt
        rows = open_release(SourceSpec(kind="release", path=str(folder)), folder).rows
        seen[fmt] = [row.problem[0] if row.problem else row.data["id"] for row in rows]
    # The JSON-lines path of records folders, with a row cap above the 2 MB line.
    validator = Validator(InputLimits(max_row_bytes=4 << 20))
    try:
        validator.check((root / "jsonl" / "deep2mb.line").read_bytes(), root, "", "line")
    except Rejected as rejected:
        seen["records_line"] = rejected.reason
    bomb = {"id": "b", "source": "s", "image": "bomb.png", "question": "Q?", "answer": "1",
            "reward_type": "digit"}
    try:
        validator.check(bomb, root, "", "bomb")
    except Rejected as rejected:
        seen["bomb"] = rejected.reason
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of a large pytest
    # process would report its parent's size (fs/exec.c, setmax_mm_hiwater_rss).
    status = Path("/proc/self/status").read_text().splitlines()
    seen["peak_mib"] = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
    print(json.dumps(seen))
    """
)


def test_peak_memory_stays_bounded_for_nested_items_and_image_bombs(tmp_path: Path) -> None:
    good = {
        "id": "ok",
        "image": "clevr_math/a.png",
        "question": "Q?",
        "gt": 3,
        "ds_answer": "<think>Count.</think> 3",
    }
    items = [deep_row(200_000, id="d200k"), deep_row(2_000_000, id="d2mb")]
    ok = json.dumps(good).encode()
    (tmp_path / "array").mkdir()
    (tmp_path / "jsonl").mkdir()
    array = b"[" + b",".join([ok, items[0], ok, items[1], ok]) + b"]"
    (tmp_path / "array" / SFT_FILE).write_bytes(array)
    (tmp_path / "jsonl" / SFT_FILE).write_bytes(b"\n".join([ok, items[0], ok, items[1], ok]))
    (tmp_path / "jsonl" / "deep2mb.line").write_bytes(items[1])
    (tmp_path / "bomb.png").write_bytes(solid_png(13000, 13000))  # 507 MB of pixels decoded

    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(result.stdout)
    # The 2 MB item breaks both caps: an array item is found too deep at its 65th level, a
    # line too large at its 1 MiB-th byte; neither is parsed.
    assert seen["array"] == ["ok", "json_too_deep", "ok", "json_too_deep", "ok"]
    assert seen["jsonl"] == ["ok", "json_too_deep", "ok", "row_too_large", "ok"]
    assert seen["records_line"] == "json_too_deep"
    assert seen["bomb"] == "image_too_many_pixels"
    assert seen["peak_mib"] < MEMORY_CAP_MIB, seen


def test_depth_limit_applies_before_the_size_limit_when_both_allow(tmp_path: Path) -> None:
    from vlaa.data.json_array_scan import iter_array_items

    limits = InputLimits(max_row_bytes=4 << 20)
    data = b"[" + deep_row(2_000_000, id="x") + b', {"id": "y"}]'
    path = tmp_path / "a.json"
    path.write_bytes(data)
    with path.open("rb") as handle:
        items = list(iter_array_items(handle, "item", limits))
    assert [item.problem[0] if item.problem else item.value for item in items] == [
        "json_too_deep",
        {"id": "y"},
    ]


class _SwappingTeacher(OfflineTeacher):
    """Replaces a record's source image while the teacher works on it (after validation)."""

    def __init__(self, folder: Path, outside: Path, other: bytes) -> None:
        super().__init__(error_rate=0.0)
        self.folder, self.outside, self.other = folder, outside, other
        self.swapped: dict[str, str] = {}

    def reason(self, record: Record, caption: str) -> str:
        image = self.folder / "images" / record.image
        if not self.swapped:
            image.unlink()
            image.symlink_to(self.outside)  # a link to a file outside the source
            self.swapped[record.id] = "symlink_image"
        elif len(self.swapped) == 1:
            image.write_bytes(self.other)  # same name, other (valid) content
            self.swapped[record.id] = "image_changed"
        return super().reason(record, caption)


def test_an_image_swapped_after_validation_is_never_copied(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    good = _good_rows(folder, 12, seed=8)
    secret = b"root:x:0:0:root:/root:/bin/bash\n"
    outside = tmp_path / "passwd"
    outside.write_bytes(secret)
    teacher = _SwappingTeacher(folder, outside, _png(33, 33))
    config = BuildDatasetConfig(source=str(folder), eval_size=2, max_drop_share=0.5)
    build = _build(tmp_path / "out", config, teacher=teacher)

    drops = {entry["id"]: (entry["step"], entry["reason"]) for entry in build["drops"]}
    assert drops == {name: ("write", reason) for name, reason in teacher.swapped.items()}
    assert len(build["kept"]) == len(good) - 2
    for split in SPLITS:
        for image in (tmp_path / "out" / split / "images").rglob("*"):
            if image.is_file():
                assert not image.is_symlink()
                assert image.read_bytes() != secret
    assert build["card"].unaccounted() == {}


def test_limits_are_configurable(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    good = _good_rows(folder, 3)
    row = {**good[0], "question": "Why? " * 2000}
    with pytest.raises(Rejected, match="max_question_chars"):
        Validator().check(row, folder / "images", "", "x")
    record = Validator(InputLimits(max_question_chars=20_000)).check(
        row, folder / "images", "", "x"
    )
    assert record.question == row["question"]
    with pytest.raises(Rejected, match="max_image_pixels"):
        Validator(InputLimits(max_image_pixels=100)).check(good[1], folder / "images", "", "x")
    with pytest.raises(ValueError, match="max_image_aspect_ratio"):
        InputLimits(max_image_aspect_ratio=500)  # Qwen2.5-VL refuses over 200: not allowed


def test_the_documented_limits_are_the_defaults() -> None:
    import yaml

    page = (Path(__file__).parents[2] / "docs" / "data.md").read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in page.split("```yaml")[1:]]
    (documented,) = [
        loaded["data"]["limits"]
        for loaded in map(yaml.safe_load, blocks)
        if isinstance(loaded, dict) and "limits" in (loaded.get("data") or {})
    ]
    assert documented == InputLimits().model_dump()
