"""Benchmark adapters on fixtures in each benchmark's published layout, and the scoring rules.

Each fixture writes the real file names, formats and field names of the release (see each
adapter's docstring for what is confirmed and what is assumed) into ``tmp_path``, with small
PNG images, either as files or embedded as Hugging Face ``Image`` values in Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures.benchmark_files import (
    MATHVISTA_PARQUET,
    _dynamath_root,
    _hf_image,
    _mathvista_rows,
    _wemath_records,
    _write_json,
    _write_parquet,
    _write_png,
)
from PIL import Image

from vlaa.benchmarks import (
    BENCHMARKS,
    PAPER_PROTOCOL,
    PAPER_RESULTS_PERCENT,
    BenchmarkDataError,
    EvalItem,
    aggregate,
    load_benchmark,
    score_prediction,
)
from vlaa.benchmarks.scoring import (
    ItemScore,
    extract_prediction,
    free_form_correct,
    mcq_correct,
    numeric_correct,
    parse_numeric,
)
from vlaa.benchmarks.wemath import parse_options
from vlaa.prompts import SYSTEM_PROMPT, TASK_INSTRUCTIONS

MCQ_INSTRUCTION = TASK_INSTRUCTIONS["mcq"]


def _load(name: str, root: Path, tmp_path: Path, **kwargs: Any) -> list[EvalItem]:
    return load_benchmark(name, root, cache_dir=tmp_path / "cache", **kwargs)


def _assert_images_exist(items: list[EvalItem]) -> None:
    for item in items:
        for image in item.images:
            assert Path(image).is_absolute() and Path(image).is_file(), image
            with Image.open(image) as opened:
                assert opened.size == (8, 8)


# ----------------------------------------------------------------------------- MathVista


def test_mathvista_parquet_layout(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "MathVista" / MATHVISTA_PARQUET, _mathvista_rows())

    items = _load("mathvista", tmp_path / "MathVista", tmp_path)

    assert [item.id for item in items] == ["1", "2", "3"]
    choice, integer, floating = items
    assert choice.answer_kind == "mcq" and choice.answer == "C"
    assert choice.options == {"A": "3", "B": "4", "C": "5", "D": "6"}
    assert choice.prompt.startswith("Hint: Please answer")
    assert choice.prompt.endswith(MCQ_INSTRUCTION)
    assert (integer.answer_kind, integer.answer, integer.precision) == ("numeric", "12", 0)
    assert (floating.answer_kind, floating.precision) == ("numeric", 2)
    assert floating.prompt.endswith(TASK_INSTRUCTIONS["digit"])
    _assert_images_exist(items)
    # Embedded images land in the cache, once per content.
    assert all(str(tmp_path / "cache" / "mathvista") in item.images[0] for item in items)


def test_mathvista_annotation_json_layout(tmp_path: Path) -> None:
    rows = _mathvista_rows()
    for row in rows:
        row.pop("decoded_image")
        _write_png(tmp_path / "mv" / row["image"])
    _write_json(tmp_path / "mv" / "annot_testmini.json", {row["pid"]: row for row in rows})

    items = _load("mathvista", tmp_path / "mv", tmp_path, limit=2)

    assert [item.id for item in items] == ["1", "2"]
    assert items[0].images == [str((tmp_path / "mv" / "images" / "1.jpg").resolve())]


def test_mathvista_answer_outside_choices_is_an_error(tmp_path: Path) -> None:
    rows = _mathvista_rows()[:1]
    rows[0]["answer"] = "7"
    _write_parquet(tmp_path / "mv" / MATHVISTA_PARQUET, rows)
    with pytest.raises(BenchmarkDataError, match=r"record '1': answer '7' is not one of"):
        _load("mathvista", tmp_path / "mv", tmp_path)


# ----------------------------------------------------------------------------- MathVision


def test_mathvision_parquet_layout(tmp_path: Path) -> None:
    rows = [
        {
            "id": "1",
            "question": "Which shape is shaded? <image1>",
            "options": ["circle", "square", "triangle", "star", "moon"],
            "image": "images/1.jpg",
            "decoded_image": _hf_image("red", "images/1.jpg"),
            "answer": "B",
            "solution": None,
            "level": 2,
            "subject": "metric geometry - area",
        },
        {
            "id": "2",
            "question": "What is the area? <image1>",
            "options": [],
            "image": "images/2.jpg",
            "decoded_image": _hf_image("blue", "images/2.jpg"),
            "answer": "\\frac{3}{4}",
            "solution": None,
            "level": 5,
            "subject": "algebra",
        },
    ]
    _write_parquet(tmp_path / "MathVision" / "data" / "test-00000-of-00001.parquet", rows)

    items = _load("mathvision", tmp_path / "MathVision", tmp_path)

    choice, free = items
    assert choice.answer_kind == "mcq" and choice.answer == "B"
    assert "Options:\nA. circle\nB. square" in choice.prompt
    assert free.answer_kind == "free_form" and free.options == {}
    assert free.meta == {"level": 5, "subject": "algebra"}
    _assert_images_exist(items)


def test_mathvision_github_jsonl_layout(tmp_path: Path) -> None:
    root = tmp_path / "MathVision"
    _write_png(root / "data" / "images" / "1.jpg")
    record = {
        "id": "1",
        "question": "How many?",
        "options": [],
        "image": "images/1.jpg",
        "answer": "4",
        "solution": "",
        "level": 1,
        "subject": "counting",
    }
    (root / "data" / "test.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")

    (item,) = _load("mathvision", root, tmp_path)

    assert item.images == [str((root / "data" / "images" / "1.jpg").resolve())]


# ----------------------------------------------------------------------------- MathVerse


def _mathverse_records() -> list[dict[str, Any]]:
    base = {
        "metadata": {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry"},
    }
    text = "As shown in the figure, angle 2 is equal to ()\nChoices:\nA:50°\nB:60°\nC:65°\nD:90°"
    return [
        {
            **base,
            "sample_index": "1",
            "problem_index": "1",
            "problem_version": "Text Dominant",
            "question": text,
            "image": "images_version_1-4/image_1.png",
            "answer": "C",
            "question_type": "multi-choice",
            "query_wo": "Please directly answer the question.\nQuestion: " + text,
            "query_cot": "Please first conduct reasoning.\nQuestion: " + text,
            "question_for_eval": text,
        },
        {
            **base,
            "sample_index": "5",
            "problem_index": "1",
            "problem_version": "Vision Only",
            "question": "",
            "image": "images_version_6/image_1.png",
            "answer": "C",
            "question_type": "multi-choice",
            "query_wo": "According to the question shown in the image, please directly answer "
            "the question and provide the correct option letter, e.g., A, B, C, D.",
            "query_cot": "According to the question shown in the image, please first conduct "
            "reasoning, and then answer the question and provide the correct option letter, "
            "e.g., A, B, C, D, at the end.",
            "question_for_eval": "",
        },
        {
            **base,
            "sample_index": "10",
            "problem_index": "2",
            "problem_version": "Vision Only",
            "question": "",
            "image": "images_version_6/image_2.png",
            "answer": "2\\sqrt{3}",
            "question_type": "free-form",
            "query_wo": "According to the question shown in the image, please directly answer.",
            "query_cot": "According to the question shown in the image, please first conduct "
            "reasoning, and then answer the question.",
            "question_for_eval": "",
        },
    ]


def test_mathverse_json_layout_keeps_vision_only(tmp_path: Path) -> None:
    root = tmp_path / "MathVerse"
    records = _mathverse_records()
    for record in records:
        _write_png(root / record["image"])
    _write_json(root / "testmini.json", records)

    items = _load("mathverse", root, tmp_path)

    assert [item.id for item in items] == ["5", "10"]
    choice, free = items
    assert choice.prompt.startswith("According to the question shown in the image, please first")
    assert (choice.answer_kind, choice.answer, choice.options) == ("mcq", "C", {})
    assert (free.answer_kind, free.answer) == ("free_form", "2\\sqrt{3}")
    assert free.meta["problem_version"] == "Vision Only"
    _assert_images_exist(items)

    every = _load("mathverse", root, tmp_path, versions=("Text Dominant", "Vision Only"))
    assert every[0].options == {"A": "50°", "B": "60°", "C": "65°", "D": "90°"}


def test_mathverse_parquet_layout_with_embedded_images(tmp_path: Path) -> None:
    records = _mathverse_records()
    for record in records:
        record["image"] = _hf_image("red", record["image"])
    _write_parquet(tmp_path / "MathVerse" / "testmini.parquet", records)

    items = _load("mathverse", tmp_path / "MathVerse", tmp_path, limit=1)

    assert [item.id for item in items] == ["5"]
    _assert_images_exist(items)


# ----------------------------------------------------------------------------- DynaMath


def test_dynamath_ten_variant_files(tmp_path: Path) -> None:
    items = _load("dynamath", _dynamath_root(tmp_path), tmp_path)

    assert len(items) == 20
    # Seed by seed, variants in order: sample1 must not pick up sample10's file.
    assert [item.id for item in items[:3]] == ["1-variant1", "1-variant2", "1-variant3"]
    assert items[9].id == "1-variant10" and items[10].id == "2-variant1"
    assert items[0].answer_kind == "mcq" and items[0].answer == "B"
    floating = items[10]
    assert (floating.answer_kind, floating.answer, floating.tolerance) == ("numeric", "1.500", 1e-3)
    assert floating.meta["seed_id"] == "2" and floating.meta["variant"] == 1
    _assert_images_exist(items)
    # Two distinct colours of the first seed's images -> two cached files, reused.
    assert len({item.images[0] for item in items[:10]}) == 2


def test_dynamath_missing_variant_file_is_named(tmp_path: Path) -> None:
    root = _dynamath_root(tmp_path, variants=9)
    with pytest.raises(BenchmarkDataError, match="sample_variant10"):
        _load("dynamath", root, tmp_path)


# ----------------------------------------------------------------------------- WeMath


def test_wemath_json_layout_groups_problems(tmp_path: Path) -> None:
    root = tmp_path / "We-Math"
    records = _wemath_records()
    for record in records:
        _write_png(root / record["image_path"])
    _write_json(root / "testmini.json", records)

    items = _load("wemath", root, tmp_path)

    assert [item.id for item in items] == [
        "2steps_1:1",
        "2steps_1:2",
        "2steps_1:multi",
        "3steps_1:1",
        "3steps_1:2",
        "3steps_1:3",
        "3steps_1:multi",
    ]
    first = items[0]
    assert first.options == {
        "A": "1 cm",
        "B": "1.5 cm",
        "C": "3.14 cm",
        "D": "6.28 cm",
        "E": "No correct answer",
    }
    assert first.prompt == (
        "Question for 2steps_1 / 2steps_1\nOptions:\nA. 1 cm\nB. 1.5 cm\nC. 3.14 cm\n"
        f"D. 6.28 cm\nE. No correct answer {MCQ_INSTRUCTION}"
    )
    assert (first.meta["group"], first.meta["role"], first.meta["steps"]) == ("2steps_1", "1", 2)
    _assert_images_exist(items)


def test_wemath_option_string_parsing() -> None:
    assert parse_options("A. F;    B. D;    C. B;    D. I; E. No correct answer") == {
        "A": "F",
        "B": "D",
        "C": "B",
        "D": "I",
        "E": "No correct answer",
    }
    assert parse_options("A. 300, 400;B. 400, 300;C. 3.5; D. 30, 50, 40.") == {
        "A": "300, 400",
        "B": "400, 300",
        "C": "3.5",
        "D": "30, 50, 40.",
    }


# ----------------------------------------------------------------------------- LogicVista


def test_logicvista_dataset_json_layout(tmp_path: Path) -> None:
    root = tmp_path / "LogicVista"
    data = {
        "v1_0": {"imagename": "v1_0.png", "question": "Which choice?", "answer": "C"},
        "v1_1": {"imagename": "v1_1.png", "question": "Which belong?", "answer": "A, C"},
        "v1_20": {"imagename": "v1_20.png", "question": "Select from 1-5", "answer": "3"},
    }
    for key, record in data.items():
        record.update(
            reasoning="...",
            skill=["inductive"],
            capability=["diagram"],
            imagesource="aptitudetests",
            sourcelink="https://example.org",
        )
        _write_png(root / "data" / "images" / f"{key}.png")
    _write_json(root / "data" / "dataset.json", data)

    items = _load("logicvista", root, tmp_path)

    assert [(item.id, item.answer) for item in items] == [
        ("v1_0", "C"),
        ("v1_1", "A, C"),
        ("v1_20", "3"),
    ]
    assert items[1].meta["multiple_answers"] is True
    assert items[0].prompt == f"Which choice? {MCQ_INSTRUCTION}"
    _assert_images_exist(items)
    # The data folder itself, or the JSON file, work as the path too.
    assert len(_load("logicvista", root / "data", tmp_path)) == 3
    assert len(_load("logicvista", root / "data" / "dataset.json", tmp_path)) == 3


def test_task_instruction_can_be_left_off(tmp_path: Path) -> None:
    root = tmp_path / "LogicVista"
    _write_png(root / "data" / "images" / "v1_0.png")
    _write_json(
        root / "data" / "dataset.json",
        {"v1_0": {"imagename": "v1_0.png", "question": "Which choice?", "answer": "C"}},
    )
    (item,) = _load("logicvista", root, tmp_path, task_instruction=False)
    assert item.prompt == "Which choice?"


# ----------------------------------------------------------------------------- bad input


def test_missing_field_names_file_record_and_field(tmp_path: Path) -> None:
    root = tmp_path / "LogicVista"
    _write_png(root / "data" / "images" / "v1_0.png")
    _write_json(
        root / "data" / "dataset.json",
        {"v1_0": {"imagename": "v1_0.png", "question": "Which?"}},
    )
    with pytest.raises(BenchmarkDataError) as raised:
        _load("logicvista", root, tmp_path)
    message = str(raised.value)
    assert "dataset.json" in message and "'v1_0'" in message and "missing field 'answer'" in message


def test_missing_image_file_is_named(tmp_path: Path) -> None:
    root = tmp_path / "We-Math"
    records = _wemath_records()
    for record in records[1:]:
        _write_png(root / record["image_path"])
    _write_json(root / "testmini.json", records)
    with pytest.raises(BenchmarkDataError) as raised:
        _load("wemath", root, tmp_path)
    message = str(raised.value)
    assert "testmini.json" in message and "'2steps_1'" in message
    assert (
        "field 'image_path'" in message and "image file not found: 2steps/image/1-1.png" in message
    )


def test_parquet_row_without_image_is_named(tmp_path: Path) -> None:
    rows = _mathvista_rows()[:1]
    rows[0]["decoded_image"] = None  # no embedded bytes and no images/1.jpg on disk
    _write_parquet(tmp_path / "mv" / MATHVISTA_PARQUET, rows)
    with pytest.raises(
        BenchmarkDataError, match=r"record '1': field 'image': image file not found"
    ):
        _load("mathvista", tmp_path / "mv", tmp_path)


def test_missing_field_in_parquet(tmp_path: Path) -> None:
    rows = _mathvista_rows()
    for row in rows:
        del row["question_type"]
    _write_parquet(tmp_path / "mv" / MATHVISTA_PARQUET, rows)
    with pytest.raises(
        BenchmarkDataError, match=r"\.parquet: record '1': missing field 'question_type'"
    ):
        _load("mathvista", tmp_path / "mv", tmp_path)


def test_unreadable_file_and_missing_layout(tmp_path: Path) -> None:
    (tmp_path / "LogicVista" / "data").mkdir(parents=True)
    (tmp_path / "LogicVista" / "data" / "dataset.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match=r"dataset\.json: cannot read"):
        _load("logicvista", tmp_path / "LogicVista", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkDataError, match=r"no We-Math testmini file under .*testmini.json"):
        _load("wemath", tmp_path / "empty", tmp_path)
    with pytest.raises(BenchmarkDataError, match="does not exist"):
        _load("wemath", tmp_path / "nowhere", tmp_path)


def test_registry_and_locations(tmp_path: Path) -> None:
    assert set(BENCHMARKS) == {
        "mathvista",
        "mathvision",
        "mathverse",
        "dynamath",
        "wemath",
        "logicvista",
    }
    with pytest.raises(ValueError, match="unknown benchmark 'mmmu'"):
        load_benchmark("mmmu", tmp_path)
    with pytest.raises(ValueError, match="unsupported benchmark location"):
        load_benchmark("wemath", "ftp://host/wemath")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        load_benchmark("wemath", tmp_path, limit=0)


# ----------------------------------------------------------------------------- protocol


def test_paper_protocol() -> None:
    assert PAPER_PROTOCOL.system_prompt == SYSTEM_PROMPT
    assert PAPER_PROTOCOL.generation_kwargs() == {"max_new_tokens": 800, "do_sample": False}
    assert PAPER_PROTOCOL.processor_kwargs() == {"max_pixels": 256 * 32 * 32}
    item = _item("mcq", "B")
    system, user = PAPER_PROTOCOL.chat_messages(item)
    assert system["content"][0]["text"] == SYSTEM_PROMPT
    assert user["content"] == [
        {"type": "image", "image": "/tmp/x.png"},
        {"type": "text", "text": "q"},
    ]
    # The published averages are the means of the six columns.
    for row in PAPER_RESULTS_PERCENT.values():
        columns = [value for name, value in row.items() if name != "average"]
        assert sum(columns) / 6 == pytest.approx(row["average"], abs=0.05)


# ----------------------------------------------------------------------------- scoring


def _item(kind: str, answer: str, **fields: Any) -> EvalItem:
    return EvalItem(
        id=fields.pop("id", "x"),
        benchmark=fields.pop("benchmark", "fixture"),
        images=["/tmp/x.png"],
        question="q",
        prompt="q",
        answer=answer,
        answer_kind=kind,  # type: ignore[arg-type]
        **fields,
    )


def test_extraction_uses_answer_tag_else_raw_text() -> None:
    assert extract_prediction("<think>maybe A</think><answer> B </answer>") == "B"
    assert (
        extract_prediction("<think>x</think> The answer is B") == "<think>x</think> The answer is B"
    )
    assert extract_prediction("  C  ") == "C"
    assert extract_prediction("<answer></answer>") == ""
    # An answer tag inside thinking does not count; the raw text is used instead.
    raw = "<think><answer>A</answer></think> so B"
    assert extract_prediction(raw) == raw


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", True),
        ("b", True),
        ("(B)", True),
        ("B.", True),
        ("B. 60°", True),
        ("(B) 60°", True),
        ("Option B", True),
        ("The answer is B", True),
        ("60°", True),  # the option's text
        ("C", False),
        ("65°", False),
        ("B, C", False),
        ("", False),
    ],
)
def test_mcq_single_answer(prediction: str, expected: bool) -> None:
    options = {"A": "50°", "B": "60°", "C": "65°", "D": "90°"}
    assert mcq_correct(prediction, "B", options) is expected


def test_mcq_multiple_and_numbered_answers() -> None:
    assert mcq_correct("A, C", "A, C")
    assert mcq_correct("C, A", "A, C")
    assert mcq_correct("A and C", "A, C")
    assert mcq_correct("Options A and C", "A, C")
    assert not mcq_correct("A", "A, C")
    assert not mcq_correct("A, B, C", "A, C")
    assert mcq_correct("3", "3")
    assert not mcq_correct("4", "3")


def test_mcq_choice_text_that_looks_like_a_label() -> None:
    # MathVista: choices 3/4/5/6, answer "5" is option C; a model may answer the text.
    options = {"A": "3", "B": "4", "C": "5", "D": "6"}
    assert mcq_correct("5", "C", options)
    assert mcq_correct("C", "C", options)
    assert not mcq_correct("4", "C", options)
    # We-Math: option texts that are letters; a letter names the option, not the text.
    letters = {"A": "B", "B": "C", "C": "D", "D": "E", "E": "No correct answer"}
    assert mcq_correct("D", "D", letters)
    assert not mcq_correct("E", "D", letters)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12.0),
        ("1,000", 1000.0),
        ("3.5.", 3.5),
        ("35%", 35.0),
        ("5 cm", 5.0),
        ("45°", 45.0),
        ("\\frac{3}{4}", 0.75),
        ("$\\frac{1}{2}$", 0.5),
        ("x = 7", 7.0),
        ("B", None),
        ("", None),
    ],
)
def test_parse_numeric(text: str, value: float | None) -> None:
    parsed = parse_numeric(text)
    assert parsed == (pytest.approx(value) if value is not None else None)


def test_numeric_precision_and_tolerance() -> None:
    # MathVista float, precision 2: both sides rounded to 2 decimals.
    assert numeric_correct("1.45", "1.45", precision=2)
    assert numeric_correct("1.4512", "1.45", precision=2)
    assert not numeric_correct("1.4", "1.45", precision=2)
    # MathVista integer: precision 0.
    assert numeric_correct("12", "12", precision=0)
    assert numeric_correct("12.0", "12", precision=0)
    assert numeric_correct("12 apples", "12", precision=0)
    assert not numeric_correct("13", "12", precision=0)
    # DynaMath float: |prediction - answer| <= 0.001.
    assert numeric_correct("3.1416", "3.142", tolerance=0.001)  # off by 0.0004
    assert numeric_correct("\\pi", "3.142", tolerance=0.001)  # 3.14159...
    assert numeric_correct("3.143", "3.142", tolerance=0.001)  # off by exactly 0.001
    assert not numeric_correct("3.14", "3.142", tolerance=0.001)  # off by 0.002
    # Neither: equal values.
    assert numeric_correct("0.5", "1/2")
    assert not numeric_correct("no idea", "3", tolerance=0.001)


def test_free_form_math_verify_and_text() -> None:
    assert free_form_correct("\\frac{1}{2}", "0.5")
    assert free_form_correct("1 + x^2", "x^2 + 1")
    assert free_form_correct("2\\sqrt{3}", "2\\sqrt{3}")
    assert free_form_correct("Yes", "yes")
    assert free_form_correct("[1, 2, 3]", "[1, 2, 3]")
    assert not free_form_correct("2", "3")
    assert not free_form_correct("", "3")


def test_score_prediction_end_to_end() -> None:
    item = _item("numeric", "1.45", precision=2, id="3", benchmark="mathvista")
    score = score_prediction(item, "<think>rise over run</think><answer>1.452</answer>")
    assert score == ItemScore(id="3", benchmark="mathvista", prediction="1.452", correct=True)
    assert not score_prediction(item, "<answer></answer>").correct
    mcq = _item("mcq", "C", options={"A": "3", "B": "4", "C": "5"})
    # No tag: the raw text is scored; it names C as VLMEvalKit's matcher reads it (one label
    # among the last four words), so it is right; naming no option is wrong.
    assert score_prediction(mcq, "The sides are five, so (C).").correct is True
    assert score_prediction(mcq, "The sides are five.").correct is False
    assert score_prediction(mcq, "<answer>(C)</answer>").correct


def _scores(items: list[EvalItem], right: set[str]) -> list[ItemScore]:
    return [
        ItemScore(id=i.id, benchmark=i.benchmark, prediction="", correct=i.id in right)
        for i in items
    ]


def test_accuracy_and_headline() -> None:
    items = [_item("mcq", "A", id=str(n), benchmark="logicvista") for n in range(4)]
    metrics = aggregate("logicvista", items, _scores(items, {"0", "2", "3"}))
    assert metrics == {
        "n": 4,
        "accuracy": 0.75,
        "empty_items": 0,
        "headline_metric": "accuracy",
        "headline": 0.75,
    }
    with pytest.raises(ValueError, match="1 items have no score: 3"):
        aggregate("logicvista", items, _scores(items[:3], set()))


def test_dynamath_average_and_worst_case() -> None:
    items = [
        _item(
            "mcq",
            "A",
            id=f"{seed}-variant{v}",
            benchmark="dynamath",
            meta={"seed_id": seed, "variant": v},
        )
        for seed in ("1", "2")
        for v in (1, 2, 3)
    ]
    right = {"1-variant1", "1-variant2", "1-variant3", "2-variant1", "2-variant3"}
    metrics = aggregate("dynamath", items, _scores(items, right))
    assert metrics["average_accuracy"] == pytest.approx(5 / 6)
    assert metrics["worst_case_accuracy"] == 0.5  # seed 1 all right; seed 2 misses variant 2
    assert metrics["headline_metric"] == "worst_case_accuracy" and metrics["headline"] == 0.5


def _wemath_group(group: str, steps: int, verdicts: list[bool]) -> list[tuple[EvalItem, bool]]:
    """Items of one problem group; ``verdicts`` = sub-problems 1..n, then the composite."""
    roles = [str(i) for i in range(1, steps + 1)] + ["multi"]
    return [
        (
            _item(
                "mcq",
                "A",
                id=f"{group}:{role}",
                benchmark="wemath",
                meta={"group": group, "role": role, "steps": steps},
            ),
            verdict,
        )
        for role, verdict in zip(roles, verdicts, strict=True)
    ]


def test_wemath_four_dimensional_metrics_hand_checked() -> None:
    T, F = True, False
    pairs = (
        _wemath_group("2steps_1", 2, [T, T, T])  # CM (strict and loose)
        + _wemath_group("2steps_2", 2, [T, F, T])  # RM strict, CM loose
        + _wemath_group("2steps_3", 2, [F, F, T])  # RM strict and loose
        + _wemath_group("2steps_4", 2, [T, T, F])  # IG
        + _wemath_group("3steps_1", 3, [T, F, F, F])  # IK
        + _wemath_group("3steps_2", 3, [T, T, T, T])  # CM
        + _wemath_group("3steps_3", 3, [T, T, T, T])[:2]  # sub-problems 1-2 only: incomplete
    )
    items = [item for item, _ in pairs]
    right = {item.id for item, verdict in pairs if verdict}

    m = aggregate("wemath", items, _scores(items, right))

    assert (m["groups"], m["incomplete_groups"]) == (6, 1)
    assert (m["count_IK"], m["count_IG"]) == (1, 1)
    assert (m["count_CM_strict"], m["count_RM_strict"]) == (2, 2)
    assert (m["count_CM_loose"], m["count_RM_loose"]) == (3, 1)
    # Score = (G - 0.5 IG - RM - IK) / G
    assert m["score_strict"] == pytest.approx((6 - 0.5 - 2 - 1) / 6)  # 0.4167
    assert m["score_loose"] == pytest.approx((6 - 0.5 - 1 - 1) / 6)  # 0.5833
    assert m["IK"] == pytest.approx(1 / 6) and m["IG"] == pytest.approx(1 / 6)
    assert m["CM_strict"] == pytest.approx(2 / 6) and m["CM_loose"] == pytest.approx(3 / 6)
    assert m["RM_strict"] == pytest.approx(2 / 4)  # RM / (CM + RM)
    assert m["RM_loose"] == pytest.approx(1 / 4)
    assert m["one_step_accuracy"] == pytest.approx(9 / 14)
    assert m["two_step_accuracy"] == pytest.approx(3 / 4)
    assert m["three_step_accuracy"] == pytest.approx(1 / 2)
    assert m["headline_metric"] == "score_strict" and m["headline"] == m["score_strict"]


def test_wemath_fixture_scored_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "We-Math"
    records = _wemath_records()
    for record in records:
        _write_png(root / record["image_path"])
    _write_json(root / "testmini.json", records)
    items = _load("wemath", root, tmp_path)
    # Every answer right except the two-step composite: that group is IG, the other CM.
    completions = {item.id: f"<answer>{item.answer}</answer>" for item in items}
    completions["2steps_1:multi"] = "<answer>E</answer>"
    scores = [score_prediction(item, completions[item.id]) for item in items]

    metrics = aggregate("wemath", items, scores)

    assert (metrics["count_IG"], metrics["count_CM_strict"]) == (1, 1)
    assert metrics["score_strict"] == pytest.approx((2 - 0.5) / 2)
    assert metrics["accuracy"] == pytest.approx(6 / 7)
