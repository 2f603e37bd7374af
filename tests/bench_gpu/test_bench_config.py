"""The GPU benchmark's pinned settings still equal their sources, and its helpers measure."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "gpu"))

import bench_config
from bench_measure import ChangeSampler
from bench_phases import completion_mask, grpo_loss


def test_project_defaults_are_the_configs_defaults() -> None:
    from vlaa.evaluation.config import EvaluateStepConfig
    from vlaa.training.config import GRPOStepConfig, SFTStepConfig

    for pinned, config in (
        (bench_config.PROJECT_GRPO_DEFAULTS, GRPOStepConfig()),
        (bench_config.PROJECT_SFT_DEFAULTS, SFTStepConfig()),
        (bench_config.PROJECT_EVAL_DEFAULTS, EvaluateStepConfig()),
    ):
        actual = {key: getattr(config, key) for key in pinned}
        assert actual == pinned, type(config).__name__


def test_paper_group_size_and_temperature_are_the_projects() -> None:
    for key, value in bench_config.PAPER_GRPO.items():
        assert bench_config.PROJECT_GRPO_DEFAULTS[key] == value


def test_trl_defaults_are_trls() -> None:
    import trl
    from trl import GRPOConfig

    assert trl.__version__ == bench_config.TRL_VERSION
    fields = {field.name: field for field in dataclasses.fields(GRPOConfig)}
    for key, pinned in bench_config.TRL_GRPO_DEFAULTS.items():
        field = fields[key]
        default = field.default
        if default is dataclasses.MISSING:
            default = field.default_factory()  # type: ignore[misc]
        assert default == pinned, key


def test_variants_use_the_papers_group_and_temperature() -> None:
    trl_variant, project = bench_config.grpo_variants()
    for variant in (trl_variant, project):
        assert variant.num_generations == 4 and variant.temperature == 0.8
        assert variant.per_device_batch_size % variant.num_generations == 0
    assert (trl_variant.beta, trl_variant.max_completion_length) == (0.0, 512)
    assert (project.beta, project.max_completion_length) == (1e-3, 1024)
    assert bench_config.with_bf16_reference(project).reference_dtype == "bf16"


def test_3b_architecture_is_the_published_config() -> None:
    """Qwen/Qwen2.5-VL-3B-Instruct config.json (hf.co/Qwen/Qwen2.5-VL-3B-Instruct)."""
    from vlaa.modeling.factory import build_config, default_corpus, train_tokenizer

    config = build_config("3b", train_tokenizer(default_corpus()))
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (2048, 11008, 36)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (16, 2, 151936)
    assert config.tie_word_embeddings
    assert (vision.depth, vision.hidden_size, vision.intermediate_size) == (32, 1280, 3420)
    assert (vision.num_heads, vision.out_hidden_size, vision.window_size) == (16, 2048, 112)
    assert list(vision.fullatt_block_indexes) == [7, 15, 23, 31]


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H100 NVL", 835.0),
        ("NVIDIA H200", 989.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_dense_bf16_peaks(name: str, peak: float | None) -> None:
    assert bench_config.dense_bf16_peak_tflops(name) == peak


def test_completion_mask_stops_after_the_first_eos() -> None:
    completions = torch.tensor([[5, 9, 6, 9], [5, 5, 5, 5]])
    assert completion_mask(completions, eos=9).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_grpo_loss_has_gradient_and_kl(loss_type: str) -> None:
    variant = dataclasses.replace(bench_config.grpo_variants()[1], loss_type=loss_type)
    logps = torch.randn(4, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 0]] * 4)
    loss = grpo_loss(logps, logps.detach() - 0.5, torch.tensor([1.0, -1, 0.5, -0.5]), mask, variant)
    loss.backward()
    assert torch.isfinite(loss) and logps.grad is not None
    assert logps.grad[:, 2].abs().sum() == 0  # masked tokens get no gradient
    assert logps.grad[:, :2].abs().sum() > 0


@pytest.mark.parametrize(("dtype", "changed"), [(torch.float32, True), (torch.bfloat16, False)])
def test_change_sampler_sees_what_a_small_step_changes(dtype: torch.dtype, changed: bool) -> None:
    """At lr 1e-6 fp32 weights all move; most bf16 weights round back (the issue's finding)."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 256).to(dtype)
    sampler = ChangeSampler(layer, per_tensor=1024)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-6)
    layer(torch.randn(8, 256, dtype=dtype)).square().mean().backward()
    optimizer.step()
    share = sampler.changed_share()["weights_changed_share"]
    assert (share > 0.99) if changed else (share < 0.5)
