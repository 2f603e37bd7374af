"""The data engine across sources: several sources in one build, data-build counters in a real
Pushgateway, and the data card's per-step drop reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.release_files import write_release_file
from support.prometheus_servers import (  # noqa: F401 - fixtures
    ServerProcess,
    prometheus_binaries,
    pushed_groups,
    pushed_value,
    pushgateway,
)

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.datacard import DataCard
from vlaa.data.engine import DatasetBuildError, build_dataset
from vlaa.data.offline_teacher import OfflineTeacher
from vlaa.data.sources import SourceSpec
from vlaa.data.synthetic import SyntheticConfig, generate
from vlaa.records import Record, read_records, write_records

SPLITS = ("sft", "rl", "eval")


def _folder(root: Path, count: int, seed: int) -> Path:
    records = [
        record
        for record, _ in generate(SyntheticConfig(num_samples=count, seed=seed), root / "images")
    ]
    write_records(root / "records.jsonl", records)
    return root


def _build(root: Path, config: BuildDatasetConfig, **kwargs: object) -> DataCard:
    dirs = [root / name for name in (*SPLITS, "card")]
    return build_dataset(config, *dirs, **kwargs)  # type: ignore[arg-type]


def _relabel(folder: Path, prefix: str) -> None:
    """Give a folder's records distinct ids and a distinct source name."""
    lines = (folder / "records.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for row in rows:
        row["id"] = f"{prefix}-{row['id']}"
        row["source"] = prefix
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_two_sources_keep_their_images_apart(tmp_path: Path) -> None:
    # Both folders hold images at the same relative paths (synthetic/000000.png, ...).
    first, second = _folder(tmp_path / "a", 12, seed=1), _folder(tmp_path / "b", 12, seed=2)
    _relabel(first, "alpha")
    _relabel(second, "beta")
    config = BuildDatasetConfig(
        sources=[
            SourceSpec(kind="records", path=str(first), options={"image_prefix": "alpha"}),
            SourceSpec(kind="records", path=str(second), options={"image_prefix": "beta"}),
        ],
        eval_size=4,
        max_drop_share=1.0,
    )
    card = _build(tmp_path / "out", config)
    assert card.original == 24
    assert set(card.sources) == {"alpha", "beta"}
    assert card.source == f"records:{first} + records:{second}"
    for split in SPLITS:
        for record in read_records(tmp_path / "out" / split / "records.jsonl"):
            prefix = record.image.split("/")[0]
            assert prefix == record.source
            copied = tmp_path / "out" / split / "images" / record.image
            original = tmp_path / ("a" if prefix == "alpha" else "b") / "images"
            assert copied.read_bytes() == (original / record.image[len(prefix) + 1 :]).read_bytes()


def test_sources_sharing_an_image_prefix_are_refused(tmp_path: Path) -> None:
    first, second = _folder(tmp_path / "a", 3, seed=1), _folder(tmp_path / "b", 3, seed=2)
    config = BuildDatasetConfig(
        sources=[SourceSpec(kind="records", path=str(p)) for p in (first, second)], eval_size=1
    )
    with pytest.raises(DatasetBuildError, match=r"distinct options\.image_prefix"):
        _build(tmp_path / "out", config)


def test_unknown_source_kind_and_missing_path_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetBuildError, match="unknown source kind 'coco'"):
        _build(tmp_path / "x", BuildDatasetConfig(sources=[SourceSpec(kind="coco", path="/")]))
    with pytest.raises(DatasetBuildError, match="does not exist"):
        missing = SourceSpec(kind="docvqa", path=str(tmp_path / "nowhere"))
        _build(tmp_path / "y", BuildDatasetConfig(sources=[missing]))


def test_limit_reads_only_the_first_rows(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "a", 20, seed=3)
    config = BuildDatasetConfig(
        sources=[SourceSpec(kind="records", path=str(folder), limit=9)],
        eval_size=2,
        max_drop_share=1.0,
    )
    assert _build(tmp_path / "out", config).original == 9


def test_drop_reasons_are_listed_per_step_in_the_card(tmp_path: Path) -> None:
    config = BuildDatasetConfig(
        num_samples=40, eval_size=5, teacher_error_rate=0.3, max_drop_share=1.0
    )
    card = _build(tmp_path / "out", config)
    assert card.drop_steps["verify"]["verify_no"] == card.drop_reasons["verify_no"] > 0
    markdown = (tmp_path / "out" / "card" / "data_card.md").read_text()
    assert f"| verify | verify_no | {card.drop_reasons['verify_no']} |" in markdown
    drops = (tmp_path / "out" / "card" / "drops.jsonl").read_text().splitlines()
    assert {json.loads(line)["step"] for line in drops} == {"verify"}


@pytest.mark.slow
def test_data_build_counters_reach_the_pushgateway(
    tmp_path: Path,
    pushgateway: ServerProcess,  # noqa: F811 - fixture
) -> None:
    folder = _folder(tmp_path / "raw", 20, seed=4)
    (folder / "images" / "synthetic" / "000003.png").write_bytes(b"broken")
    config = BuildDatasetConfig(
        source=str(folder),
        eval_size=3,
        teacher_error_rate=0.3,
        max_drop_share=1.0,
        pushgateway_url=pushgateway.url,
    )
    card = _build(tmp_path / "out", config, run_id="build-42")
    (group,) = [g for g in pushed_groups(pushgateway) if g["labels"].get("run_id") == "build-42"]
    assert group["labels"]["stage"] == "build_dataset"
    assert pushed_value(group, "vlaa_data_records_input_total") == 20
    assert (
        pushed_value(
            group, "vlaa_data_records_dropped_total", step="validate", reason="corrupt_image"
        )
        == 1
    )
    dropped = pushed_value(
        group, "vlaa_data_records_dropped_total", step="verify", reason="verify_no"
    )
    assert dropped == card.drop_reasons["verify_no"] > 0
    for split in SPLITS:
        assert (
            pushed_value(group, "vlaa_data_records_kept_total", split=split) == card.splits[split]
        )


class _NoTeacher(OfflineTeacher):
    """Released records are already distilled: any teacher call is a bug."""

    def caption(self, record: Record) -> str:
        raise AssertionError(f"the teacher was asked to caption released record {record.id}")


def test_released_files_keep_their_splits_and_skip_the_teacher(tmp_path: Path) -> None:
    release = tmp_path / "release"
    images = {"image_root": release / "images", "max_images": 1000}
    sft_rows = write_release_file(
        release / "VLAA-Thinking-SFT-126K.json", 120_000, fmt="array", seed=1, **images
    )
    rl_rows = write_release_file(
        release / "VLAA-Thinking-GRPO-25K.json", 60_000, fmt="jsonl", seed=2, **images
    )
    config = BuildDatasetConfig(
        sources=[SourceSpec(kind="release", path=str(release))], eval_size=4, max_drop_share=0.5
    )
    card = _build(tmp_path / "out", config, teacher=_NoTeacher())
    assert card.original == sft_rows + rl_rows
    assert card.dropped == 0
    kept = {s: list(read_records(tmp_path / "out" / s / "records.jsonl")) for s in SPLITS}
    assert len(kept["eval"]) == 4
    assert all(r.response.startswith("<think>") for r in kept["sft"] + kept["rl"])
    assert all(r.meta["release_file"].startswith("VLAA-Thinking-SFT") for r in kept["sft"])
    assert all(r.meta["release_file"].startswith("VLAA-Thinking-GRPO") for r in kept["rl"])
    assert card.splits["sft"] + card.splits["rl"] + 4 + card.quarantined == card.original


def test_validation_fixes_math_answers_that_only_give_coefficients(tmp_path: Path) -> None:
    from vlaa.data.validation import Validator

    folder = _folder(tmp_path / "a", 1, seed=6)
    row = json.loads((folder / "records.jsonl").read_text())
    row.update(
        reward_type="math",
        question="The line y = a*x + 3 passes through (1, 5). What is the line's equation?",
        answer="a = 2",
    )
    record = Validator().check(row, folder / "images", "", "records.jsonl:1")
    # The filled template as the LaTeX the math reward parses (issue 14), the plain text kept.
    assert record.answer == "y = 2 \\cdot x + 3"
    assert record.meta["answer_fixup_plain"] == "y = 2*x + 3"
    assert record.meta["answer_before_fixup"] == "a = 2"


def test_the_fixup_reads_the_answer_as_written_before_normalisation(tmp_path: Path) -> None:
    from vlaa.data.validation import Validator

    folder = _folder(tmp_path / "a", 1, seed=6)
    row = json.loads((folder / "records.jsonl").read_text())
    row.update(
        reward_type="math",
        question="The curve y = a * sin(x) passes through (pi/2, 2*pi). What is its equation?",
        answer="a = 2 \\cdot \\pi",  # as imported: normalised, the text as written in meta
        meta={"answer_original": "a = 2*pi"},
    )
    record = Validator().check(row, folder / "images", "", "records.jsonl:1")
    assert record.answer == "y = (2 \\cdot \\pi) \\cdot \\sin(x)"
    assert record.meta["answer_fixup_plain"] == "y = (2*pi) * sin(x)"
    assert record.meta["answer_before_fixup"] == "a = 2 \\cdot \\pi"
    assert record.meta["answer_original"] == "a = 2*pi"
