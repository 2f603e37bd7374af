"""vLLM rollouts for GRPO: TRL's vLLM fields from the step config, and the processor vLLM loads.

TRL 1.16 starts colocated vLLM with ``LLM(model=model.name_or_path, max_model_len=
args.vllm_max_model_length, gpu_memory_utilization=..., tensor_parallel_size=...)``
(trl/generation/vllm_generation.py) and no ``mm_processor_kwargs``: vLLM reads the image
processor from the model folder. TRL hands vLLM prompt token ids whose visual tokens the
training processor expanded, so vLLM's processor must resize images exactly as training does.
:func:`processor_view` writes that folder: the model's files linked, the processor saved with
the step's image budget.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from vlaa.training.config import GRPOStepConfig


def vllm_args(config: GRPOStepConfig, use_vllm: bool, longest_prompt: int) -> dict[str, Any]:
    """GRPOConfig's vLLM fields (trl/trainer/grpo_config.py) for this step.

    Without ``vllm_max_model_len`` the context is the prompt budget (``max_prompt_length``, else
    the longest prompt kept, visual tokens included) plus ``max_completion_length``, not the
    model's full context (128k for Qwen2.5-VL), whose KV cache does not fit beside a 7B policy.
    """
    prompt_budget = config.prompt_budget() or longest_prompt
    return {
        "use_vllm": use_vllm,
        "vllm_mode": config.vllm_mode,
        "vllm_gpu_memory_utilization": config.vllm_gpu_memory_utilization,
        "vllm_max_model_length": config.vllm_max_model_len
        or prompt_budget + config.max_completion_length,
        "vllm_tensor_parallel_size": config.vllm_tensor_parallel_size,
    }


def processor_view(model_dir: Path, processor: Any, work_dir: Path) -> Path:
    """A folder that is ``model_dir`` (files linked) with ``processor`` saved in it.

    One folder per process (``RANK``), so ranks on a shared volume never write the same one.
    """
    view = work_dir / f"vllm-model-rank{os.environ.get('RANK', '0')}"
    if view.exists():
        shutil.rmtree(view)
    view.mkdir(parents=True)
    processor.save_pretrained(view)  # first, so no link is ever written through
    for item in model_dir.iterdir():
        target = view / item.name
        if not target.exists():
            target.symlink_to(item.resolve(), target_is_directory=item.is_dir())
    return view
