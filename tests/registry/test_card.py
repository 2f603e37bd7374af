"""The model card of an SFT-then-GRPO model shows both stages' settings and the base model, and
keeps harmless names such as `nvidia.com/gpu` (issue 16)."""

from __future__ import annotations

from vlaa.registry.card import render_model_card, scrub

SFT_RECORD = {
    "stage": "sft",
    "steps": 40,
    "config": {"learning_rate": 0.003, "num_train_epochs": 6},
}
GRPO_RECORD = {
    "stage": "grpo",
    "steps": 80,
    "config": {"learning_rate": 0.0001, "beta": 0.001},
    "init_training": SFT_RECORD,
}
LINEAGE = {
    "pipeline_run_id": "run-1",
    "code_version": "git:abc",
    "dataset_hash": "d" * 8,
    "base_model": "Qwen/Qwen2.5-VL-3B-Instruct",
}


def _card(train_config: dict) -> str:
    return render_model_card("m", "v0001", "passed", {}, scrub(train_config), {}, scrub(LINEAGE))


def test_an_sft_then_grpo_card_shows_both_stages_in_order_and_the_base_model() -> None:
    card = _card(GRPO_RECORD)
    training = card.split("## Training configuration")[1].split("## Data")[0]
    assert training.index("### 1. SFT") < training.index("### 2. GRPO")
    sft_block = training.split("### 1. SFT")[1].split("### 2. GRPO")[0]
    assert "learning_rate: 0.003" in sft_block and "num_train_epochs: 6" in sft_block
    assert "beta: 0.001" in training.split("### 2. GRPO")[1]
    assert "init_training" not in card
    assert "| base model | Qwen/Qwen2.5-VL-3B-Instruct |" in card
    assert "not recorded" not in card
    assert "base_model: Qwen/Qwen2.5-VL-3B-Instruct" in card  # the Hub card's front matter


def test_a_one_stage_card_has_no_stage_headings() -> None:
    card = _card({"stage": "grpo", "config": {"beta": 0.001}, "init_training": None})
    assert "### " not in card and "beta: 0.001" in card


def test_harmless_names_are_kept_and_secrets_still_redacted() -> None:
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    scrubbed = scrub({"tolerations": [toleration], "api_key": "sk-1", "gpu_type": "nvidia.com/gpu"})
    assert scrubbed["tolerations"] == [toleration]
    assert scrubbed["gpu_type"] == "nvidia.com/gpu"
    assert scrubbed["api_key"] == "<redacted>"
