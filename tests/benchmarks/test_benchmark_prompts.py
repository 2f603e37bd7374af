"""Benchmark prompts under ``prompt_style="vlmevalkit"``: what VLMEvalKit's dataset classes build.

Expected strings were derived by reading open-compass/VLMEvalKit (commit e8e78f0),
``vlmeval/dataset``: ``image_base.py: ImageBaseDataset.build_prompt`` (MathVista, MathVision,
LogicVista send the TSV question as is), ``image_vqa.py: MathVerse.build_prompt`` (``question``
unless a ``*_cot`` dataset), ``dynamath.py: Dynamath.build_prompt`` (question header, GUIDE,
JSON example) and ``image_mcq.py: WeMath.build_prompt`` (``Question:`` then ``Options:`` lines).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_benchmarks import (
    MATHVISTA_PARQUET,
    _dynamath_root,
    _hf_image,
    _load,
    _mathverse_records,
    _mathvista_rows,
    _wemath_records,
    _write_json,
    _write_parquet,
    _write_png,
)

from vlaa.benchmarks import load_benchmark


def test_mathvista_sends_the_published_query(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "MathVista" / MATHVISTA_PARQUET, _mathvista_rows())
    choice, integer, _ = _load(
        "mathvista", tmp_path / "MathVista", tmp_path, prompt_style="vlmevalkit"
    )
    assert choice.prompt == (
        "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, "
        "D, at the end.\nQuestion: How many sides?\nChoices:\n(A) 3\n(B) 4\n(C) 5\n(D) 6"
    )
    assert integer.prompt == (
        "Hint: Please answer the question requiring an integer answer.\nQuestion: How many cubes?"
    )


def test_mathvision_hint_question_and_choices(tmp_path: Path) -> None:
    common = {"image": "images/1.jpg", "solution": None, "level": 1, "subject": "algebra"}
    rows = [
        {
            **common,
            "id": "1",
            "question": "Which shape is shaded? <image1>",
            "options": ["circle", "square"],
            "decoded_image": _hf_image("red", "images/1.jpg"),
            "answer": "B",
        },
        {
            **common,
            "id": "2",
            "question": "What is the area? <image1>",
            "options": [],
            "decoded_image": _hf_image("blue", "images/2.jpg"),
            "answer": "3",
        },
    ]
    _write_parquet(tmp_path / "MathVision" / "data" / "test-00000-of-00001.parquet", rows)
    choice, free = _load("mathvision", tmp_path / "MathVision", tmp_path, prompt_style="vlmevalkit")
    assert choice.prompt == (
        "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, "
        "D, at the end.\nQuestion: Which shape is shaded? <image1>\nChoices:\n(A) circle\n"
        "(B) square"
    )
    assert free.prompt == (
        "Hint: Please answer the question and provide the final answer at the end.\n"
        "Question: What is the area? <image1>"
    )


def test_mathverse_vision_only_sends_the_direct_query(tmp_path: Path) -> None:
    root = tmp_path / "MathVerse"
    records = _mathverse_records()
    for record in records:
        _write_png(root / record["image"])
    _write_json(root / "testmini.json", records)
    choice, free = _load("mathverse", root, tmp_path, prompt_style="vlmevalkit")
    assert choice.prompt == (
        "According to the question shown in the image, please directly answer the question and "
        "provide the correct option letter, e.g., A, B, C, D."
    )
    assert free.prompt == "According to the question shown in the image, please directly answer."


def test_dynamath_question_guide_and_json_example(tmp_path: Path) -> None:
    items = _load("dynamath", _dynamath_root(tmp_path), tmp_path, prompt_style="vlmevalkit")
    choice = next(item for item in items if item.id == "1-variant1")
    floating = next(item for item in items if item.id == "2-variant1")
    guide = (
        "\n## Answer Instruction Please provide an answer to the question outlined above. Your "
        "response should adhere to the following JSON format, which includes two keys: "
        "'solution' and 'short answer'. The 'solution' key can contain detailed steps needed to "
        "solve the question, and the 'short answer' key should provide a concise response. "
    )
    example = (
        "\n\nExample of expected JSON response format:\n\n{\n"
        '    "solution": "[Detailed step-by-step explanation]",\n'
        '    "short answer": "[Concise Answer]"\n}'
    )
    assert choice.prompt == (
        "## Question\n Which graph is increasing? A. f B. g C. h D. k"
        + guide
        + "Provide the corresponing choice option in the 'short answer' key, such as 'A', 'B', "
        "'C', or 'D'." + example
    )
    assert floating.prompt == (
        "## Question\n What is the length of AB?"
        + guide
        + "Format the answer as a three-digit floating-point number and provide it in the "
        "'short answer' key." + example
    )


def test_wemath_question_then_options_each_on_its_own_line(tmp_path: Path) -> None:
    root = tmp_path / "We-Math"
    for record in _wemath_records():
        _write_png(root / record["image_path"])
    _write_json(root / "testmini.json", _wemath_records())
    first = _load("wemath", root, tmp_path, prompt_style="vlmevalkit")[0]
    assert first.prompt == (
        "Question: Question for 2steps_1 / 2steps_1\nOptions:\nA. 1 cm\nB. 1.5 cm\nC. 3.14 cm\n"
        "D. 6.28 cm\nE. No correct answer\n"
    )


def test_logicvista_sends_the_question_as_published(tmp_path: Path) -> None:
    root = tmp_path / "LogicVista"
    _write_png(root / "data" / "images" / "v1_0.png")
    question = "Which figure comes next? Select from A, B, C, D."
    _write_json(
        root / "data" / "dataset.json",
        {"v1_0": {"imagename": "v1_0.png", "question": question, "answer": "C"}},
    )
    (item,) = _load("logicvista", root, tmp_path, prompt_style="vlmevalkit")
    assert item.prompt == question
    (trained,) = _load("logicvista", root, tmp_path, prompt_style="training")
    assert trained.prompt == f"{question} Answer with the option's letter."


def test_unknown_prompt_style_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown prompt style 'custom'"):
        load_benchmark("logicvista", tmp_path, prompt_style="custom")
