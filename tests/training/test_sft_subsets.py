"""SFT training subsets (perplexity, aha, random) and LoRA SFT on the tiny model.

The scoring and training tests are marked slow (each well under a minute on 2 CPU cores).
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from fixtures.configs import tiny_sft
from pydantic import ValidationError
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, TrainerCallback

from vlaa.errors import ConfigError
from vlaa.modeling.factory import make_model
from vlaa.modeling.loading import load_model, load_processor
from vlaa.records import IMAGES_DIR, RECORDS_FILE, Record, write_records
from vlaa.training import subsets
from vlaa.training.config import LORA_ADAPTER_DIR, LoRAConfig, SFTStepConfig
from vlaa.training.datasets import load_split
from vlaa.training.sft import apply_lora, run_sft
from vlaa.training.subsets import (
    SELECTION_FILE,
    aha_ids,
    combine_scores,
    random_ids,
    response_log_perplexities,
    select_subset,
    top_k,
)

LANGUAGE_PREFIX = "model.language_model."
VISUAL_PREFIX = "model.visual."


def _sub_split(source: Path, records: list[Record], target: Path) -> Path:
    """A split folder holding ``records`` of ``source`` and their images."""
    for record in records:
        image = target / IMAGES_DIR / record.image
        image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / IMAGES_DIR / record.image, image)
    write_records(target / RECORDS_FILE, records)
    return target


def _file_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(shard))
    return tensors


def _live_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


# ----------------------------------------------------------------------------- pure selection


def test_top_k_picks_the_highest_scores_and_breaks_ties_by_id() -> None:
    scores = {"d": 1.0, "b": 3.0, "c": 3.0, "a": 0.5, "e": 2.0, "n": math.nan}
    assert top_k(scores, 3) == ["b", "c", "e"]
    assert top_k(scores, 2) == top_k(dict(reversed(scores.items())), 2) == ["b", "c"]
    assert top_k(scores, 6)[-1] == "n"  # a sample with no response token comes last


def test_several_scoring_models_combine_by_mean_log_perplexity_or_mean_rank() -> None:
    per_model = {
        "small": {"a": 1.0, "b": 2.0, "c": 9.0},
        "other": {"a": 5.0, "b": 4.0, "c": 0.0},
    }
    mean = combine_scores(per_model, "mean_log_ppl")
    assert mean == pytest.approx({"a": 3.0, "b": 3.0, "c": 4.5})
    assert top_k(mean, 1) == ["c"]
    # Ranks ascending (0 = lowest perplexity): small a0 b1 c2, other c0 b1 a2.
    ranks = combine_scores(per_model, "mean_rank")
    assert ranks == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})
    assert top_k(ranks, 2) == ["a", "b"]  # equal mean ranks: by id
    with pytest.raises(ValueError, match="different records"):
        combine_scores({"x": {"a": 1.0}, "y": {"b": 1.0}}, "mean_log_ppl")


def test_random_subset_is_deterministic_for_a_seed() -> None:
    ids = [f"r{i:03d}" for i in range(50)]
    first = random_ids(ids, 10, seed=7)
    assert first == random_ids(list(reversed(ids)), 10, seed=7)  # input order does not matter
    assert first != random_ids(ids, 10, seed=8)
    assert len(set(first)) == 10 and set(first) <= set(ids)


def test_subset_fields_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ValidationError, match="needs subset_size"):
        SFTStepConfig(subset_strategy="perplexity")
    with pytest.raises(ValidationError, match="needs a subset_strategy"):
        SFTStepConfig(subset_size=10)
    with pytest.raises(ValidationError, match="perplexity_models is only used"):
        SFTStepConfig(subset_strategy="random", subset_size=5, perplexity_models=["/m"])
    config = SFTStepConfig(subset_strategy="aha")  # aha without a size: every aha record
    assert config.subset_size is None and config.lora is None and config.deepspeed == "none"


# ----------------------------------------------------------------------------- on real splits


def test_aha_subset_is_empty_on_the_sft_split_and_full_on_the_rl_split(
    tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    sft, rl = load_split(tiny_dataset["sft"]), load_split(tiny_dataset["rl"])
    # The data pipeline sends every aha record to RL, so the SFT split has none.
    assert not aha_ids(sft) and rl and aha_ids(rl) == [r.id for r in rl]
    with pytest.raises(ConfigError, match=r"no record with has_aha.*RL split"):
        select_subset(tiny_dataset["sft"], "aha", None)

    output = tmp_path / SELECTION_FILE
    every = select_subset(tiny_dataset["rl"], "aha", None, output=output)
    assert [row["id"] for row in every.selected] == [r.id for r in rl]
    assert json.loads(output.read_text())["aha_records_in_split"] == len(rl)

    some = select_subset(tiny_dataset["rl"], "aha", 5, seed=3)
    assert [row["id"] for row in some.selected] == random_ids(aha_ids(rl), 5, seed=3)
    chosen = {row["id"] for row in some.selected}
    assert some.indices == [i for i, r in enumerate(rl) if r.id in chosen]


def test_a_subset_larger_than_the_split_is_an_error(tiny_dataset: dict[str, Path]) -> None:
    available = len(load_split(tiny_dataset["sft"]))
    for strategy in ("random", "perplexity"):
        with pytest.raises(ConfigError, match=f"subset_size {available + 1} is larger than"):
            select_subset(tiny_dataset["sft"], strategy, available + 1, scoring_models=[Path("m")])
    with pytest.raises(ConfigError, match=r"larger than the \d+ aha records"):
        select_subset(tiny_dataset["rl"], "aha", 10_000)


@pytest.mark.slow
def test_batched_scoring_matches_one_sample_at_a_time(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    records = load_split(tiny_dataset["sft"])[:6]
    split = _sub_split(tiny_dataset["sft"], records, tmp_path / "six")
    model, processor = load_model(tiny_model_dir), load_processor(tiny_model_dir)
    batched = response_log_perplexities(model, processor, split, batch_size=4)
    single = response_log_perplexities(model, processor, split, batch_size=1)
    assert batched.keys() == {r.id for r in records}
    assert batched == pytest.approx(single, abs=1e-4)
    # A random model over a ~700-token vocabulary: log perplexity near log(700).
    assert all(5.0 < value < 8.0 for value in batched.values())


@pytest.mark.slow
def test_a_memorised_sample_has_lower_perplexity_than_an_unseen_one(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    records = load_split(tiny_dataset["sft"])
    seen = records[0]
    unseen = next(r for r in records if r.reward_type != seen.reward_type)
    one = _sub_split(tiny_dataset["sft"], [seen], tmp_path / "one")
    both = _sub_split(tiny_dataset["sft"], [seen, unseen], tmp_path / "both")
    config = tiny_sft(25, 1, 1, learning_rate=3e-3, save_steps=1000)
    trained = tmp_path / "memorised"
    run_sft(tiny_model_dir, one, trained, config)

    before = subsets.score_with_model(tiny_model_dir, both)
    after = subsets.score_with_model(trained, both)
    assert after[seen.id] < after[unseen.id]
    assert after[seen.id] < before[seen.id] - 1.0  # it really learnt the sample
    # Top-1 by perplexity under the trained model is the sample it never saw.
    selection = select_subset(both, "perplexity", 1, scoring_models=[trained])
    assert [row["id"] for row in selection.selected] == [unseen.id]
    assert selection.selected[0]["perplexity"][str(trained)] == pytest.approx(
        math.exp(after[unseen.id]), rel=1e-4
    )


@pytest.mark.slow
def test_perplexity_subset_under_two_models_is_written_and_reused(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = make_model(tmp_path / "other", size="tiny", seed=1)
    records = load_split(tiny_dataset["sft"])[:12]
    split = _sub_split(tiny_dataset["sft"], records, tmp_path / "twelve")
    output = tmp_path / "work" / SELECTION_FILE
    models = [tiny_model_dir, other]
    selection = select_subset(split, "perplexity", 5, scoring_models=models, output=output)

    written = json.loads(output.read_text())
    assert written["selected_count"] == 5 and written["score"] == "mean log perplexity"
    assert written["scoring_model_paths"] == [str(m) for m in models]
    # The selection is the top 5 by the mean log perplexity of the two models.
    per_model = {str(m): subsets.score_with_model(m, split) for m in models}
    expected = top_k(combine_scores(per_model, "mean_log_ppl"), 5)
    assert [row["id"] for row in written["selected"]] == expected
    for row in written["selected"]:
        logs = [math.log(row["perplexity"][str(m)]) for m in models]
        assert row["score"] == pytest.approx(sum(logs) / 2, abs=1e-5)
    assert selection.indices == sorted(i for i, r in enumerate(records) if r.id in expected)

    # Asked again (a resumed run): read from the file, not scored again.
    def no_scoring(*args: object, **kwargs: object) -> None:
        raise AssertionError("scored again")

    monkeypatch.setattr(subsets, "score_with_model", no_scoring)
    again = select_subset(split, "perplexity", 5, scoring_models=models, output=output)
    assert again.reused and again.indices == selection.indices
    with pytest.raises(AssertionError, match="scored again"):  # another request: scores again
        select_subset(split, "perplexity", 4, scoring_models=models, output=output)


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here"
)
def test_sft_with_deepspeed_but_without_the_package_fails_first(tmp_path: Path) -> None:
    config = SFTStepConfig(deepspeed="zero3")
    with pytest.raises(ConfigError, match="deepspeed=zero3 needs the deepspeed package"):
        run_sft(tmp_path / "no-model", tmp_path / "no-split", tmp_path / "out", config)


# ----------------------------------------------------------------------------- LoRA


def test_lora_adapts_only_the_language_model_projections(tiny_model_dir: Path) -> None:
    model = apply_lora(load_model(tiny_model_dir), LoRAConfig(r=2, alpha=4))
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name for name in trainable)
    assert not [name for name in trainable if ".visual." in name]
    adapted = {name.split(".")[-4] for name in trainable if name.endswith("lora_A.default.weight")}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    with pytest.raises(ConfigError, match="match no LLM layer"):
        apply_lora(load_model(tiny_model_dir), LoRAConfig(target_modules=["qkv"]))


@pytest.mark.slow
def test_lora_sft_on_a_random_subset_saves_a_plain_merged_model(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    subset = {"subset_strategy": "random", "subset_size": 12}
    lora = LoRAConfig(r=4, alpha=8)
    config = tiny_sft(3, 4, 2, learning_rate=1e-2, max_length=512, lora=lora, **subset)
    output, work = tmp_path / "sft", tmp_path / "work"
    summary = run_sft(tiny_model_dir, tiny_dataset["sft"], output, config, work_dir=work)

    assert summary["steps"] == 3 and summary["samples"] == 12
    # r x (in + out) per adapted layer: 2 layers x 7 projections.
    hidden, kv, mlp = 96, 48, 256
    shapes = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden)] + [(hidden, mlp)] * 3
    assert summary["trainable_parameters"] == 2 * sum(4 * (i + o) for i, o in shapes)
    assert summary["subset"]["strategy"] == "random" and summary["subset"]["size"] == 12
    chosen = json.loads((output / f"vlaa_{SELECTION_FILE}").read_text())
    assert chosen == json.loads((work / SELECTION_FILE).read_text())
    assert (work / LORA_ADAPTER_DIR / "adapter_model.safetensors").is_file()

    files = _file_weights(output)
    assert not [k for k in files if "lora" in k or "base_layer" in k or "base_model" in k]
    assert files.keys() == _file_weights(tiny_model_dir).keys()
    before, after = _live_weights(tiny_model_dir), _live_weights(output)  # loads as any model
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith(LANGUAGE_PREFIX) for name in changed)
    assert all(name.endswith("_proj.weight") for name in changed)
    assert not [name for name in changed if name.startswith(VISUAL_PREFIX)]


class _StopAfterStep3(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if state.global_step == 3:
            raise KeyboardInterrupt("stopped after step 3")


@pytest.mark.slow
def test_an_interrupted_lora_run_resumes_to_the_same_weights(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    subset = {"subset_strategy": "random", "subset_size": 16}
    lora = LoRAConfig(r=4, alpha=8, dropout=0.0)
    config = tiny_sft(
        4, 4, 4, learning_rate=1e-2, save_steps=2, max_length=512, lora=lora, **subset
    )
    sft = tiny_dataset["sft"]
    reference = run_sft(tiny_model_dir, sft, tmp_path / "ref", config, work_dir=tmp_path / "rw")
    work = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        run_sft(tiny_model_dir, sft, tmp_path / "out", config, work, [_StopAfterStep3()])
    resumed = run_sft(tiny_model_dir, sft, tmp_path / "out", config, work_dir=work)

    assert resumed["resumed_from_step"] == 2 and resumed["steps"] == reference["steps"] == 4
    assert resumed["subset"]["reused"]
    ref, out = _file_weights(tmp_path / "ref"), _file_weights(tmp_path / "out")
    assert any(not torch.equal(ref[k], _file_weights(tiny_model_dir)[k]) for k in ref)
    for name in ref:
        torch.testing.assert_close(out[name], ref[name], rtol=1e-5, atol=1e-6)
