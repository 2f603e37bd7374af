"""Importing the released VLAA-Thinking files (source kind ``release``), streamed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures.release_files import write_release_file
from PIL import Image

from vlaa.data.sources import open_source
from vlaa.data.sources.base import SourceError, SourceRow, SourceSpec
from vlaa.data.sources.release import GRPO_FILE, SFT_FILE, open_release
from vlaa.records import Record

# A record as the release README shows it (CLEVR-Math sample), shortened.
CLEVR = {
    "id": "clevr_math-CLEVR_train_027977.png",
    "image": "clevr_math/CLEVR_train_027977.png",
    "question": "Subtract all balls. How many objects are left?",
    "gt": 3,
    "ds_answer": "<think>  \nThe image shows a large blue metal sphere and three cylinders.  \n\n"
    "Wait, but I should make sure there are no other balls.  \n</think>  \n\n"
    "Removing the sphere leaves three cylinders.  \n\n**Answer:** There are 3 objects remaining.  ",
    "caption": "",
    "meta": {"caption_model_id": "gpt-4o-0806-nofilter-global", "rationale": "There are ..."},
}
THINK = "<think>I look at the image and read the labels.</think>\n\n"


def released(**fields: Any) -> dict[str, Any]:
    """The CLEVR sample with ``fields`` replaced (``None`` removes a field)."""
    record = {**CLEVR, **fields}
    return {key: value for key, value in record.items() if value is not None}


def write_array(path: Path, records: list[Any]) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def read_rows(root: Path, **spec: Any) -> list[SourceRow]:
    return list(open_release(SourceSpec(kind="release", path=str(root), **spec), root).rows)


def test_array_and_json_lines_import_the_same_rows(tmp_path: Path) -> None:
    (tmp_path / "array").mkdir()
    (tmp_path / "lines").mkdir()
    written = write_release_file(tmp_path / "array" / SFT_FILE, 300_000, fmt="array", seed=3)
    same = write_release_file(tmp_path / "lines" / SFT_FILE, 300_000, fmt="jsonl", seed=3)
    from_array, from_lines = read_rows(tmp_path / "array"), read_rows(tmp_path / "lines")

    assert written == same == len(from_array) == len(from_lines) > 20
    assert [row.data for row in from_array] == [row.data for row in from_lines]
    assert all(row.problem is None for row in from_array + from_lines)
    assert from_array[0].location == f"{SFT_FILE}:item 1"
    assert from_lines[0].location == f"{SFT_FILE}:line 1"
    assert from_array[0].image_root == tmp_path / "array" / "images"
    for row in from_array:
        Record.model_validate(row.data)  # every generated record maps to a valid record
    assert {row.data["source"] for row in from_array} >= {"vg", "arxivqa", "synthesis"}


@pytest.mark.parametrize(
    ("image", "gt", "source", "reward_type", "answer"),
    [
        ("clevr_math/CLEVR_train_027977.png", 3, "clevr_math", "digit", "3"),
        ("geoqa170k/geoqa_plus-2905.png", "C", "geoqa170k", "mcq", "C"),
        ("synthesis/gen_func-func_sine_1_qtmb.png", "y = 2x", "synthesis", "math", "y = 2x"),
        ("arxivqa/1704.01566_1.jpg", "B", "arxivqa", "mcq", "B"),
        ("docvqa/ffbf0023_4.png", "March 3, 1998", "docvqa", "open", "March 3, 1998"),
        ("vizwiz/VizWiz_train_00000001.jpg", "soup", "vizwiz", "open", "soup"),
        ("/allava_laion/images/100760552.jpeg", "A map.", "allava_laion", "open", "A map."),
        ("coco/train2017/000000000009.jpg", "[0.1, 0.2, 0.5, 0.6]", "coco", "iou", None),
        ("vg/VG_100K/12.jpg", [0.1, 0.2, 0.5, 0.6], "vg", "iou", None),
        ("images/clevr_math/CLEVR_train_1.png", "4", "clevr_math", "digit", "4"),
    ],
)
def test_field_mapping_per_source(
    tmp_path: Path, image: str, gt: Any, source: str, reward_type: str, answer: str | None
) -> None:
    write_array(tmp_path / SFT_FILE, [released(image=image, gt=gt)])
    (row,) = read_rows(tmp_path)

    assert row.problem is None
    data = row.data
    assert isinstance(data, dict)
    assert data["source"] == source
    assert data["reward_type"] == reward_type
    assert data["image"] == image.removeprefix("/").removeprefix("images/")
    assert data["image"].startswith(f"{source}/")
    assert data["answer"] == (answer if answer is not None else [0.1, 0.2, 0.5, 0.6])
    Record.model_validate(data)


def test_reasoning_response_split_and_meta(tmp_path: Path) -> None:
    write_array(tmp_path / SFT_FILE, [CLEVR])
    (row,) = read_rows(tmp_path)
    data = row.data
    assert isinstance(data, dict)

    assert data["id"] == CLEVR["id"]
    assert data["question"] == CLEVR["question"]
    assert data["reasoning"].startswith("The image shows a large blue metal sphere")
    assert data["reasoning"].endswith("no other balls.")
    assert data["response"] == (
        f"<think>{data['reasoning']}</think><answer>Removing the sphere leaves three cylinders."
        "  \n\n**Answer:** There are 3 objects remaining.</answer>"
    )
    assert data["has_aha"] is True  # "Wait"
    assert data["split"] == "sft"
    assert data["caption"] == ""
    assert data["meta"] == {
        **CLEVR["meta"],
        "release_file": SFT_FILE,
        "teacher": "released",
    }


def test_answer_tags_worked_solutions_and_the_grpo_split(tmp_path: Path) -> None:
    solution = "Step 1: Substitute the point.\nStep 2: Solve: a = -5.\n\n†Answer: y = -5 * sin(x)."
    records = [
        released(
            id="synthesis-2",
            image="synthesis/gen_func-func_sine_2_abcd.png",
            gt=solution,
            ds_answer="<think>Plug in the point.</think><answer>y = -5 \\sin(x)</answer>",
        ),
        released(id="no-reasoning", ds_answer=None),  # GRPO needs no reasoning
    ]
    write_array(tmp_path / GRPO_FILE, records)
    worked, bare = read_rows(tmp_path)

    assert worked.problem is None and bare.problem is None
    assert isinstance(worked.data, dict) and isinstance(bare.data, dict)
    # The released "y = -5 * sin(x)" as the LaTeX Math-Verify reads as meant (issue 14).
    assert worked.data["answer"] == "y = -5 \\cdot \\sin(x)"
    assert worked.data["meta"]["answer_original"] == "y = -5 * sin(x)"
    assert worked.data["meta"]["released_gt"] == solution
    assert (
        worked.data["response"]
        == "<think>Plug in the point.</think><answer>y = -5 \\sin(x)</answer>"
    )
    assert worked.data["has_aha"] is False
    assert {worked.data["split"], bare.data["split"]} == {"rl"}
    assert (bare.data["reasoning"], bare.data["response"], bare.data["has_aha"]) == ("", "", False)
    assert bare.data["meta"]["release_file"] == GRPO_FILE


@pytest.mark.parametrize(
    ("fields", "reason", "detail"),
    [
        ({"question": None}, "missing_field", "question"),
        ({"gt": ""}, "missing_field", "gt"),
        ({"ds_answer": None}, "missing_field", "ds_answer"),  # the SFT target
        ({"image": "chartqa/x.png"}, "unknown_source", "chartqa"),
        ({"image": "CLEVR_train_1.png"}, "invalid_image_path", "no <source> folder"),
        ({"image": "clevr_math/../../etc/passwd"}, "parent_image_path", ".."),
        ({"image": "coco\\train2017\\1.jpg"}, "invalid_image_path", "backslashes"),
        ({"image": "coco/1.jpg", "gt": "[0.1, 0.2]"}, "invalid_answer", "not a box"),
        ({"image": "coco/1.jpg", "gt": "the dog"}, "invalid_answer", "not a box"),
        ({"gt": ["A"]}, "invalid_answer", "list"),
        ({"question": ["a", "list"]}, "invalid_field", "question"),
        ({"meta": "text"}, "invalid_field", "meta"),
        ({"ds_answer": "The answer is 3."}, "malformed_response", "<think>"),
        ({"ds_answer": f"{THINK}"}, "malformed_response", "<think>"),
    ],
)
def test_bad_records_yield_problems(
    tmp_path: Path, fields: dict[str, Any], reason: str, detail: str
) -> None:
    write_array(tmp_path / SFT_FILE, [released(id="bad", **fields), released(id="good")])
    bad, good = read_rows(tmp_path)

    assert bad.problem is not None
    assert bad.problem[0] == reason
    assert detail in bad.problem[1]
    assert isinstance(bad.data, dict) and bad.data["id"] == "bad"
    assert good.problem is None  # a bad row does not stop the stream


def test_bad_json_lines_yield_problems_and_the_stream_goes_on(tmp_path: Path) -> None:
    good = json.dumps(released(id="good")).encode()
    lines = [
        good,
        b"",  # blank lines are skipped
        b'{"id": "cut", "image": ',
        b'{"id": "latin-1", "question": "caf\xe9"}',
        b"[1, 2, 3]",
        json.dumps(released(id="chart", image="chartqa/1.png")).encode(),
        json.dumps(released(id="last")).encode(),
    ]
    rows = read_rows(write_lines(tmp_path / SFT_FILE, lines).parent)

    found = [(row.location, row.problem[0] if row.problem else None) for row in rows]
    assert found == [
        (f"{SFT_FILE}:line 1", None),
        (f"{SFT_FILE}:line 3", "invalid_json"),
        (f"{SFT_FILE}:line 4", "non_utf8"),
        (f"{SFT_FILE}:line 5", "invalid_json"),
        (f"{SFT_FILE}:line 6", "unknown_source"),
        (f"{SFT_FILE}:line 7", None),
    ]
    assert rows[1].data == b'{"id": "cut", "image":'  # the raw line, for the quarantine file
    assert rows[2].problem is not None and "UTF-8" in rows[2].problem[1]


def test_non_object_array_item_is_a_problem(tmp_path: Path) -> None:
    write_array(tmp_path / SFT_FILE, [released(id="a"), "text", released(id="b")])
    rows = read_rows(tmp_path)
    assert [row.problem[0] if row.problem else None for row in rows] == [None, "invalid_json", None]


def test_corrupt_array_yields_rows_before_the_break_then_a_clear_error(tmp_path: Path) -> None:
    good = [json.dumps(released(id=f"r{i}")) for i in range(3)]
    text = "[\n" + ",\n".join(good) + ',\n{"id" "broken"},\n' + good[0] + "\n]\n"
    path = tmp_path / SFT_FILE
    path.write_text(text, encoding="utf-8")
    rows = open_release(SourceSpec(kind="release", path=str(tmp_path)), tmp_path).rows

    ids = [next(rows).data["id"] for _ in range(3)]  # type: ignore[index]
    assert ids == ["r0", "r1", "r2"]
    with pytest.raises(SourceError) as raised:
        next(rows)
    message = str(raised.value)
    assert str(path) in message
    assert "after item 3" in message
    offset = int(re.search(r"at byte offset (\d+)", message).group(1))  # type: ignore[union-attr]
    broken = text.encode().index(b'{"id" "broken"}')
    assert broken <= offset <= broken + len('{"id" "broken"}')  # where the parser stopped


def test_corrupt_bytes_deep_in_a_large_array_are_located(tmp_path: Path) -> None:
    records = [json.dumps(released(id=f"r{i}")) for i in range(400)]
    text = "[" + ",".join(records[:300]) + ',{"id": "caf\xe9"},' + ",".join(records[300:]) + "]"
    data = text.encode("latin-1")  # one record not UTF-8, ~150 kB in (past the first block)
    (tmp_path / SFT_FILE).write_bytes(data)
    rows = open_release(SourceSpec(kind="release", path=str(tmp_path)), tmp_path).rows

    read = 0
    with pytest.raises(SourceError, match="invalid UTF-8") as raised:
        for _ in rows:
            read += 1
    assert read == 300
    offset = int(re.search(r"at byte offset (\d+)", str(raised.value)).group(1))  # type: ignore[union-attr]
    assert 0 <= offset - data.index(b"caf\xe9") <= 8


def test_truncated_array_names_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / SFT_FILE
    text = json.dumps([released(id=f"r{i}") for i in range(4)])
    path.write_text(text[: len(text) * 3 // 5], encoding="utf-8")
    rows = open_release(SourceSpec(kind="release", path=str(tmp_path)), tmp_path).rows

    read = 0
    with pytest.raises(SourceError, match=rf"at byte offset {path.stat().st_size} \(end of file"):
        for _ in rows:
            read += 1
    assert read == 2


def test_default_files_splits_and_legacy_names(tmp_path: Path) -> None:
    write_array(tmp_path / SFT_FILE, [released(id="s")])
    write_array(tmp_path / GRPO_FILE, [released(id="g")])
    rows = read_rows(tmp_path)
    assert [(row.data["id"], row.data["split"]) for row in rows] == [("s", "sft"), ("g", "rl")]  # type: ignore[index]

    only_rl = read_rows(tmp_path, options={"files": [GRPO_FILE]})
    assert [row.data["id"] for row in only_rl] == ["g"]  # type: ignore[index]

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    write_array(legacy / "train-grpo.json", [released(id="old")])
    (row,) = read_rows(legacy)
    assert (row.data["id"], row.data["split"]) == ("old", "rl")  # type: ignore[index]


def test_named_files_and_a_file_path(tmp_path: Path) -> None:
    write_array(tmp_path / "mine.json", [released(id="m")])
    (row,) = read_rows(tmp_path, options={"files": {"mine.json": "rl"}})
    assert row.data["split"] == "rl"  # type: ignore[index]

    write_array(tmp_path / GRPO_FILE, [released(id="g")])
    (row,) = read_rows(tmp_path / GRPO_FILE)
    assert row.data["id"] == "g"  # type: ignore[index]
    assert row.image_root == tmp_path / "images"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "no release file"),
        ({"files": ["absent.json"]}, "cannot tell the split"),
        ({"files": ["VLAA-Thinking-SFT-126K.json"]}, "does not exist"),
        ({"files": {"x.json": "eval"}}, "must be sft or rl"),
        ({"files": 3}, "list of file names"),
        ({"file": "x"}, "unknown option"),
    ],
)
def test_unreadable_release_is_a_clear_error(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        open_release(SourceSpec(kind="release", path=str(tmp_path), options=options), tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"  \n\t", "is empty"), (b"id,image\n1,x.png\n", "neither")],
)
def test_file_that_is_not_json_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / SFT_FILE).write_bytes(content)
    with pytest.raises(SourceError, match=message):
        open_release(SourceSpec(kind="release", path=str(tmp_path)), tmp_path)


def test_byte_order_mark_limit_and_the_source_registry(tmp_path: Path) -> None:
    records = [released(id=f"r{i}") for i in range(5)]
    (tmp_path / SFT_FILE).write_bytes(b"\xef\xbb\xbf" + json.dumps(records).encode())
    reader = open_source(SourceSpec(kind="release", path=str(tmp_path), limit=2))

    assert reader.name == "release"
    assert reader.image_prefix == ""
    assert [row.data["id"] for row in reader.rows] == ["r0", "r1"]  # type: ignore[index]


def test_fixture_writes_the_size_asked_and_tiny_images(tmp_path: Path) -> None:
    images = tmp_path / "images"
    path = tmp_path / GRPO_FILE
    count = write_release_file(path, 50_000, fmt="jsonl", seed=1, image_root=images, max_images=4)

    assert path.stat().st_size >= 50_000
    assert count == len(path.read_text(encoding="utf-8").splitlines())
    rows = read_rows(tmp_path)
    for row in rows[:4]:
        with Image.open(row.image_root / row.data["image"]) as image:  # type: ignore[index]
            assert image.size == (8, 8)
    assert not (row.image_root / rows[4].data["image"]).exists()  # type: ignore[index]
    with pytest.raises(ValueError, match="fmt"):
        write_release_file(path, 10, fmt="csv")  # type: ignore[arg-type]


# Streams every row of a release in a fresh process and reports its peak RSS growth.
STREAM_CHILD = """
import json, resource, sys
from pathlib import Path
from vlaa.data.sources.base import SourceSpec
from vlaa.data.sources.release import open_release
root = Path(sys.argv[1])
reader = open_release(SourceSpec(kind="release", path=str(root)), root)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = problems = 0
for row in reader.rows:
    rows += 1
    problems += row.problem is not None
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "problems": problems, "growth_kib": after - before}))
"""


@pytest.mark.parametrize("fmt", ["array", "jsonl"])
def test_memory_stays_flat_while_streaming_a_60_mb_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / SFT_FILE
    written = write_release_file(path, 60_000_000, fmt=fmt)  # type: ignore[arg-type]
    size = path.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout)

    assert report["rows"] == written
    assert report["problems"] == 0
    # json.load would need several times the file size; streaming needs a few blocks.
    assert report["growth_kib"] * 1024 < size / 10, report
