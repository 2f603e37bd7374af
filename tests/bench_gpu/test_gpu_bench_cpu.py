"""bench/gpu/run.py end to end on the CPU with the tiny model, as the GPU machine would run it.

The GPU machine has no pydantic, TRL, vLLM or DeepSpeed, so the run hides them (``None`` in
``sys.modules``: imports fail and ``find_spec`` says absent) and uses the GPU's precision,
fp32 master weights under bf16 autocast, which the CPU supports too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ABSENT_ON_GPU_MACHINE = ("pydantic", "pydantic_core", "trl", "vllm", "deepspeed", "datasets")

RUN_WITHOUT = """
import runpy, sys
for name in {absent!r}:
    sys.modules[name] = None
sys.argv = {argv!r}
runpy.run_path({script!r}, run_name="__main__")
"""

TRAINING_PHASES = ("sft", "grpo_trl_default", "grpo_project")


@pytest.mark.slow
def test_tiny_cpu_run_writes_every_field(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    script = str(REPO / "bench" / "gpu" / "run.py")
    argv = [script, "--size", "tiny", "--device", "cpu", "--autocast", "bf16", "--steps", "1",
            "--max-new-tokens", "8", "--question-tokens", "16", "--answer-tokens", "64",
            "--peak-tflops", "1", "--out", str(out)]  # fmt: skip
    code = RUN_WITHOUT.format(absent=ABSENT_ON_GPU_MACHINE, argv=argv, script=script)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())

    assert result["precision"] == "fp32 master weights, bfloat16 autocast"
    assert {"torch", "python", "transformers", "date", "cpu_model"} <= set(result["machine"])
    model = result["model"]
    assert model["lm_parameters"] + model["vision_parameters"] == model["parameters"] > 0
    assert "6*N_lm*tokens" in result["flops_convention"]
    phases = result["phases"]
    assert list(phases) == ["eval", *TRAINING_PHASES]
    for name, phase in phases.items():
        assert phase["status"] == "ok", (name, phase)
        assert phase["measured_steps"] == 1 and phase["step_s"] > 0, name
        assert 0 < phase["mfu"] < 1, name
        assert phase["peak_memory_gib"] > 0, name

    evaluation = phases["eval"]
    assert evaluation["dtype"] == "bfloat16" and evaluation["batch_size"] == 16
    assert 0 < evaluation["generated_tokens"] <= 16 * 8
    assert evaluation["generation_tokens_per_s"] > 0

    for name in TRAINING_PHASES:
        phase = phases[name]
        assert phase["training_tokens_per_s"] > 0, name
        # The bar for fp32 master weights: one AdamW step moves > 90% of the weights.
        assert phase["weights_changed_share"] > 0.9, name
        assert phase["trainable_parameters"] > model["lm_parameters"] > 0, name  # + merger

    sft = phases["sft"]
    assert sft["page_size"] == [1700, 2200] and sft["fits_max_length"]
    assert sft["image_tokens_per_page"] == 12  # 112x84 pixels: the tiny cap, 112*112
    assert sft["image_tokens_per_page_uncapped"] == 4819  # Qwen's default max_pixels
    assert sft["optimizer_step_s_on_8_gpus"] == pytest.approx(sft["step_s"] * 4, rel=0.01)

    for name, beta in (("grpo_trl_default", 0.0), ("grpo_project", 1e-3)):
        phase = phases[name]
        assert phase["settings"]["beta"] == beta and phase["settings"]["num_generations"] == 4
        assert (phase["prompts"], phase["completions"]) == (2, 8)
        assert 0 < phase["completion_tokens"] <= 8 * 8
        assert phase["generation_tokens_per_s"] > 0 and 0 < phase["mfu_training"] < 1
        assert (phase["reference_s"] > 0) == (beta > 0)
        assert phase["step_s"] >= phase["generation_s"] + phase["train_s"]
        assert phase["paper_run_hours_on_8_gpus"] > 0
