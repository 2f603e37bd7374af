"""Records a release leaves with an empty question or answer: kept, scored as misses, counted.

LogicVista's ``data/dataset.json`` holds one (``v1_382``: question, answer and reasoning are
``""``; its image exists). Its authors' harness keeps it, so accuracy is over all 448 records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.benchmark_files import (
    MATHVISTA_PARQUET,
    _dynamath_root,
    _mathvista_rows,
    _wemath_records,
    _write_json,
    _write_parquet,
    _write_png,
    logicvista_release,
)
from test_benchmarks import _load, _mathverse_records

from vlaa.benchmarks import BenchmarkDataError, EvalItem, aggregate, score_prediction


def test_logicvista_keeps_the_empty_record_and_scores_it_as_a_miss(tmp_path: Path) -> None:
    items = _load("logicvista", logicvista_release(tmp_path / "LogicVista"), tmp_path)

    assert [item.id for item in items] == ["v1_0", "v1_381", "v1_382"]
    empty = items[2]
    assert empty.empty_fields == ["question", "answer"]
    assert (empty.question, empty.answer) == ("", "")
    assert [item.empty_fields for item in items[:2]] == [[], []]
    # Whatever the model says, the empty item is a miss; the others score as usual.
    for completion in ("<answer>A</answer>", "<answer></answer>", ""):
        assert not score_prediction(empty, completion).correct
    scores = [score_prediction(item, "<answer>C</answer>") for item in items]
    assert [score.correct for score in scores] == [True, False, False]
    metrics = aggregate("logicvista", items, scores)
    assert (metrics["n"], metrics["empty_items"]) == (3, 1)
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # the empty item is in the denominator


def test_empty_prompt_is_allowed_only_for_an_empty_question(tmp_path: Path) -> None:
    root = logicvista_release(tmp_path / "LogicVista")
    items = _load("logicvista", root, tmp_path, task_instruction=False)
    assert items[2].prompt == ""
    fields = items[2].model_dump()
    for dropped in ("question", "answer"):
        broken = {**fields, "empty_fields": [f for f in fields["empty_fields"] if f != dropped]}
        with pytest.raises(ValueError, match=f"'{dropped}' is not in empty_fields"):
            EvalItem.model_validate(broken)


def test_a_missing_field_is_still_an_error(tmp_path: Path) -> None:
    root = logicvista_release(tmp_path / "LogicVista")
    path = root / "data" / "dataset.json"
    path.write_text(path.read_text().replace('"answer": "",', ""), encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match=r"record 'v1_382': missing field 'answer'"):
        _load("logicvista", root, tmp_path)


def test_every_loader_keeps_an_empty_answer(tmp_path: Path) -> None:
    # MathVista (Parquet): an empty answer of a multiple-choice and of an integer question.
    rows = _mathvista_rows()
    rows[0]["answer"] = ""
    rows[1]["answer"] = None
    _write_parquet(tmp_path / "mv" / MATHVISTA_PARQUET, rows)
    mathvista = _load("mathvista", tmp_path / "mv", tmp_path)
    assert [item.empty_fields for item in mathvista] == [["answer"], ["answer"], []]
    assert not score_prediction(mathvista[1], "<answer>12</answer>").correct

    # We-Math (JSON): an empty question and answer of one sub-problem.
    records = _wemath_records()
    records[0].update(question="", answer="")
    for record in records:
        _write_png(tmp_path / "wm" / record["image_path"])
    _write_json(tmp_path / "wm" / "testmini.json", records)
    wemath = _load("wemath", tmp_path / "wm", tmp_path)
    assert sum(bool(item.empty_fields) for item in wemath) == 1
    assert (
        aggregate("wemath", wemath, [score_prediction(i, "A") for i in wemath])["empty_items"] == 1
    )

    # MathVision (GitHub JSON lines): an empty question.
    record = {"id": "1", "question": " ", "options": [], "image": "images/1.jpg", "answer": "4"}
    _write_png(tmp_path / "mvis" / "data" / "images" / "1.jpg")
    (tmp_path / "mvis" / "data" / "test.jsonl").write_text(json.dumps(record) + "\n")
    (mathvision,) = _load("mathvision", tmp_path / "mvis", tmp_path)
    assert mathvision.empty_fields == ["question"]
    assert not score_prediction(mathvision, "<answer>4</answer>").correct

    # MathVerse (JSON): a Vision Only multiple-choice item with an empty answer.
    verse = _mathverse_records()
    verse[1]["answer"] = ""
    for row in verse:
        _write_png(tmp_path / "mverse" / row["image"])
    _write_json(tmp_path / "mverse" / "testmini.json", verse)
    mathverse = _load("mathverse", tmp_path / "mverse", tmp_path)
    assert [item.empty_fields for item in mathverse] == [["answer"], []]


def test_dynamath_keeps_an_empty_ground_truth_in_one_variant(tmp_path: Path) -> None:
    # Variant 3 of the float seed "2" lost its ground truth, variant 4 of seed "1" its question.
    root = _dynamath_root(tmp_path)
    for variant, seed, field in ((3, "2", "ground_truth"), (4, "1", "question")):
        (path,) = (root / "data").glob(f"sample{variant}-*.parquet")
        rows = pq.read_table(path).to_pylist()
        next(row for row in rows if row["id"] == seed)[field] = ""
        _write_parquet(path, rows)

    items = {item.id: item for item in _load("dynamath", root, tmp_path)}

    assert len(items) == 20  # nothing dropped
    assert items["2-variant3"].empty_fields == ["answer"]
    assert items["1-variant4"].empty_fields == ["question"]
    assert sum(bool(item.empty_fields) for item in items.values()) == 2
    # Scored as misses, counted, and they break their seed's worst case.
    float_answer = {i: f"<answer>{item.answer}</answer>" for i, item in items.items()}
    float_answer["1-variant4"] = "<answer>B</answer>"  # right letter, but no question
    scores = [score_prediction(item, float_answer[i]) for i, item in items.items()]
    assert {s.id for s in scores if not s.correct} == {"2-variant3", "1-variant4"}
    metrics = aggregate("dynamath", list(items.values()), scores)
    assert (metrics["n"], metrics["empty_items"]) == (20, 2)
    assert metrics["accuracy"] == pytest.approx(18 / 20)
    assert metrics["worst_case_accuracy"] == 0.0  # each seed has one miss
