"""The build_dataset step end to end: splits, invariants, quarantine and the drop limit."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vlaa.data import rules
from vlaa.data.config import BuildDatasetConfig
from vlaa.data.datacard import DataCard
from vlaa.data.engine import DatasetBuildError, build_dataset
from vlaa.data.offline_teacher import OfflineTeacher
from vlaa.data.synthetic import SyntheticConfig, generate
from vlaa.records import Record, read_records, write_records

SPLIT_NAMES = ("sft", "rl", "eval")


@dataclass
class Build:
    root: Path
    card: DataCard

    def dir(self, name: str) -> Path:
        return self.root / name

    def records(self, split: str) -> list[Record]:
        return list(read_records(self.dir(split) / "records.jsonl"))

    def jsonl(self, name: str) -> list[dict[str, Any]]:
        text = (self.dir("card") / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]


def _build(root: Path, config: BuildDatasetConfig, teacher: Any = None) -> Build:
    dirs = [root / name for name in (*SPLIT_NAMES, "card")]
    return Build(root, build_dataset(config, *dirs, teacher=teacher))


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    config = BuildDatasetConfig(num_samples=60, eval_size=10, seed=1)
    return _build(tmp_path_factory.mktemp("build"), config)


# ------------------------------------------------------------------------------ end to end


def test_every_record_ends_in_exactly_one_place(synthetic_build: Build) -> None:
    ids_by_split = {s: [r.id for r in synthetic_build.records(s)] for s in SPLIT_NAMES}
    dropped = [entry["id"] for entry in synthetic_build.jsonl("drops.jsonl")]
    quarantined = synthetic_build.jsonl("quarantine.jsonl")
    assert quarantined == []
    everything = [*dropped, *(i for ids in ids_by_split.values() for i in ids)]
    assert sorted(everything) == [f"synthetic-{i:06d}" for i in range(60)]
    card = synthetic_build.card
    assert card.original == 60
    assert card.splits == {s: len(ids) for s, ids in ids_by_split.items()}
    assert sum(card.splits.values()) + card.dropped + card.quarantined == 60
    assert card.unaccounted() == {}


def test_splits_are_filled_and_labelled(synthetic_build: Build) -> None:
    sft, rl, evaluation = (synthetic_build.records(s) for s in SPLIT_NAMES)
    assert sft and rl
    assert len(evaluation) == 10
    for split, records in zip(SPLIT_NAMES, (sft, rl, evaluation), strict=True):
        assert all(record.split == split for record in records)
    assert all(not r.has_aha and not rules.has_aha(r.reasoning) for r in sft)
    assert all(r.has_aha and rules.has_aha(r.reasoning) for r in rl)
    for record in (*sft, *rl):
        assert record.caption.startswith("Setting:")
        assert record.response == rules.format_response(record.reasoning, record.answer_text())
        assert record.meta["teacher"] == "offline"
        assert record.meta["teacher_models"]["reason"] == "offline-rule-solver"
        assert "caption" not in record.reasoning


def test_eval_is_held_out_before_the_teacher(synthetic_build: Build) -> None:
    for record in synthetic_build.records("eval"):
        assert record.question and record.answer != ""
        assert (record.caption, record.reasoning, record.response) == ("", "", "")
        assert not record.has_aha
        assert "teacher" not in record.meta


def test_eval_choice_does_not_depend_on_the_teacher(tmp_path: Path) -> None:
    seen: list[str] = []

    class Spy(OfflineTeacher):
        def caption(self, record: Record) -> str:
            seen.append(record.id)
            return super().caption(record)

    config = BuildDatasetConfig(num_samples=40, eval_size=8, seed=2, max_drop_share=1.0)
    first = _build(tmp_path / "a", config, teacher=Spy())
    other = _build(tmp_path / "b", config.model_copy(update={"aha_share": 0.9}))
    eval_ids = {r.id for r in first.records("eval")}
    assert eval_ids == {r.id for r in other.records("eval")}
    assert len(eval_ids) == 8
    assert not eval_ids & set(seen)
    assert len(seen) == 32


def test_each_split_copies_only_its_images(synthetic_build: Build) -> None:
    for split in SPLIT_NAMES:
        images = synthetic_build.dir(split) / "images"
        on_disk = {p.relative_to(images).as_posix() for p in images.rglob("*") if p.is_file()}
        assert on_disk == {record.image for record in synthetic_build.records(split)}


def test_data_card_files(synthetic_build: Build) -> None:
    card_dir = synthetic_build.dir("card")
    card = DataCard.read(card_dir)
    assert card == synthetic_build.card
    data = json.loads((card_dir / "data_card.json").read_text())
    assert data["original"] == 60
    assert data["sources"]["synthetic-clevr-math"]["after_pipeline"] == 60 - card.dropped
    markdown = (card_dir / "data_card.md").read_text()
    assert "| synthetic-clevr-math |" in markdown
    assert "## Quarantine and drop reasons" in markdown


def test_build_is_deterministic(tmp_path: Path, synthetic_build: Build) -> None:
    again = _build(tmp_path, BuildDatasetConfig(num_samples=60, eval_size=10, seed=1))
    for split in SPLIT_NAMES:
        assert (again.dir(split) / "records.jsonl").read_bytes() == (
            synthetic_build.dir(split) / "records.jsonl"
        ).read_bytes()


def test_teacher_drop_reasons_are_counted(tmp_path: Path) -> None:
    class Wordy(OfflineTeacher):
        """Pads about every third rewrite far past the word-delta limit."""

        def rewrite(self, text: str) -> str:
            rewritten = super().rewrite(text)
            if len(text) % 3 == 0:
                return rewritten.replace("</think>", " more" * 20 + "</think>")
            return rewritten

    config = BuildDatasetConfig(
        num_samples=60, eval_size=5, seed=3, teacher_error_rate=0.2, max_drop_share=1.0
    )
    build = _build(tmp_path, config, teacher=Wordy(error_rate=0.2, seed=3))
    reasons = {entry["reason"] for entry in build.jsonl("drops.jsonl")}
    assert reasons == {"verify_no", "rewrite_word_delta"}
    assert build.card.drop_reasons["verify_no"] > 0
    assert build.card.drop_reasons["rewrite_word_delta"] > 0
    assert build.card.unaccounted() == {}


def test_too_many_teacher_drops_fail_the_build(tmp_path: Path) -> None:
    config = BuildDatasetConfig(num_samples=40, eval_size=5, teacher_error_rate=0.6)
    with pytest.raises(DatasetBuildError) as raised:
        _build(tmp_path, config)
    message = str(raised.value)
    assert "above max_drop_share 20.0%" in message
    assert "verify_no" in message
    # The card and the drop list are still there to look at.
    assert (tmp_path / "card" / "data_card.json").is_file()
    assert (tmp_path / "card" / "drops.jsonl").read_text().count("verify_no") > 8


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        BuildDatasetConfig(num_sample=10)


def test_eval_size_must_leave_training_records(tmp_path: Path) -> None:
    with pytest.raises(DatasetBuildError, match="eval_size 20 leaves nothing to train on"):
        _build(tmp_path, BuildDatasetConfig(num_samples=20, eval_size=20))


def test_unknown_source_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetBuildError, match="neither 'synthetic' nor a folder"):
        _build(tmp_path, BuildDatasetConfig(source=str(tmp_path / "nowhere")))


# ------------------------------------------------------------------------------ bad input


def _raw_folder(root: Path, count: int) -> tuple[Path, list[dict[str, Any]]]:
    """A source folder of ``count`` good synthetic records; return it and the records' dicts."""
    config = SyntheticConfig(num_samples=count, seed=11)
    records = [record for record, _ in generate(config, root / "images")]
    write_records(root / "records.jsonl", records)
    return root, [record.model_dump(mode="json") for record in records]


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"


def test_bad_records_are_quarantined_with_their_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, good = _raw_folder(tmp_path / "raw", 30)
    (folder / "images" / good[0]["image"]).write_bytes(b"this is not a png")
    (folder / "images" / good[1]["image"]).unlink()
    # The released data writes MCQ answers as "(b)" too: normalised to "B", not quarantined.
    mcq = next(r for r in good[10:] if r["reward_type"] == "mcq")
    letter = mcq["answer"]
    mcq["answer"] = f"({letter.lower()})"
    bad = [
        {**good[2], "id": "absolute", "image": "/etc/passwd"},
        {**good[3], "id": "parent", "image": "../outside.png"},
        {**good[4], "question": "A different question about the same id?"},
        {
            key: value
            for key, value in {**good[5], "id": "no-question"}.items()
            if key != "question"
        },
        {**good[6], "id": "strange-type", "reward_type": "essay"},
        {**good[7], "id": "same-image-same-question"},
        {**good[8], "id": "bad-letter", "reward_type": "mcq", "answer": "maybe"},
        {**good[9], "id": "lone-surrogate", "question": "caf\udce9?"},
    ]
    lines = b"".join(_line(record) for record in good)
    lines += b"".join(_line(record) for record in bad)
    lines += b'{"id": "latin-1", "question": "caf\xe9?"}\n'  # not UTF-8
    lines += b"{not json\n"
    (folder / "records.jsonl").write_bytes(lines)

    config = BuildDatasetConfig(source=str(folder), eval_size=3, max_drop_share=0.5)
    with caplog.at_level(logging.WARNING):
        build = _build(tmp_path / "out", config)

    reasons = {e["id"] or e["location"]: e["reason"] for e in build.jsonl("quarantine.jsonl")}
    assert reasons == {
        good[0]["id"]: "corrupt_image",
        good[1]["id"]: "missing_image",
        "absolute": "absolute_image_path",
        "parent": "parent_image_path",
        good[4]["id"]: "duplicate_id",
        "no-question": "missing_field",
        "strange-type": "unknown_reward_type",
        "same-image-same-question": "duplicate_image_question",
        "bad-letter": "invalid_answer",
        "lone-surrogate": "non_utf8",
        "latin-1": "non_utf8",  # named by a best-effort read of the bad line
        "records.jsonl:40": "invalid_json",
    }
    assert build.card.quarantined == 12
    assert build.card.original == 40
    assert build.card.unaccounted() == {}
    corrupt = f"quarantined {good[0]['id']}: image '{good[0]['image']}' is corrupt"
    assert f"{corrupt} (cannot identify image file)" in caplog.text
    assert "quarantined records.jsonl:40: line is not valid JSON" in caplog.text

    kept = {r.id: r for split in SPLIT_NAMES for r in build.records(split)}
    assert kept[mcq["id"]].answer == letter
    assert kept[mcq["id"]].meta["answer_before_normalisation"] == f"({letter.lower()})"
    assert len(kept) + build.card.dropped + build.card.quarantined == 40


def test_too_many_bad_records_fail_before_the_teacher(tmp_path: Path) -> None:
    folder, good = _raw_folder(tmp_path / "raw", 10)
    for record in good[:4]:
        (folder / "images" / record["image"]).write_bytes(b"\x89PNG broken")

    class Untouchable(OfflineTeacher):
        def caption(self, record: Record) -> str:
            raise AssertionError("the teacher ran although the build was already lost")

    config = BuildDatasetConfig(source=str(folder), eval_size=2)
    with pytest.raises(DatasetBuildError) as raised:
        _build(tmp_path / "out", config, teacher=Untouchable())
    message = str(raised.value)
    assert "lost 40.0% of 10 records" in message
    assert "above max_drop_share 20.0%" in message
    assert "corrupt_image (4)" in message
    assert len((tmp_path / "out" / "card" / "quarantine.jsonl").read_text().splitlines()) == 4


def test_records_the_offline_teacher_cannot_solve_are_dropped(tmp_path: Path) -> None:
    folder, good = _raw_folder(tmp_path / "raw", 12)
    good[0]["meta"] = {}  # no scene graph: the offline teacher cannot caption it
    good[1]["question"] = "Is this a nice picture?"
    good[1]["reward_type"] = "open"
    good[1]["answer"] = "yes"
    (folder / "records.jsonl").write_bytes(b"".join(_line(record) for record in good))
    config = BuildDatasetConfig(source=str(folder), eval_size=0, max_drop_share=1.0)
    build = _build(tmp_path / "out", config)
    reasons = {entry["id"]: entry["reason"] for entry in build.jsonl("drops.jsonl")}
    assert reasons[good[0]["id"]] == "teacher_error"
    assert reasons[good[1]["id"]] == "no_answer"
