"""GPU benchmark: Qwen2.5-VL-3B (random weights) through evaluation, SFT and GRPO micro-steps.

Usage (bench/gpu/README.md): ``python bench/gpu/run.py --size 3b --out $OUT/gpu.json`` on one
H100 (at most 8 minutes with the default budget); ``--size tiny --device cpu`` runs the same
code on a CPU in seconds (tests/bench_gpu runs it so it cannot rot). Needs torch, transformers
and this checkout (``vlaa.modeling.factory``); no TRL, pydantic, network or hub.
Prints a table and writes JSON (default ``bench/results/gpu_<size>_<device>.json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()  # the budget counts imports too (torch + transformers: seconds)

# Before torch: fewer fragmentation OOMs when phases with different shapes share one process.
if "PYTORCH_ALLOC_CONF" not in os.environ and "PYTORCH_CUDA_ALLOC_CONF" not in os.environ:
    os.environ["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# This folder's modules, vlaa (not installed on the GPU machine) and bench/machine_info.
for path in (REPO / "bench", REPO, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402
import transformers  # noqa: E402
from bench_config import (  # noqa: E402
    PROJECT_EVAL_DEFAULTS,
    dense_bf16_peak_tflops,
    grpo_variants,
    with_bf16_reference,
)
from bench_inputs import build_model  # noqa: E402
from bench_measure import FlopCounter, peak_memory  # noqa: E402
from bench_phases import Bench, precision_name, run_eval, run_grpo, run_sft  # noqa: E402
from bench_schedule import Runner, Schedule  # noqa: E402
from machine_info import machine  # noqa: E402

from vlaa.modeling.factory import image_pixel_bounds  # noqa: E402

PHASE_WEIGHTS = {"eval": 0.15, "sft": 0.10, "grpo_trl_default": 0.30, "grpo_project": 0.45}
FLOPS_CONVENTION = (
    "training 6*N_lm*tokens, generation and reference forwards 2*N_lm*tokens (prompt and "
    "generated), plus 2*N_vision*patches for the frozen vision tower; N_lm = parameters outside "
    "the vision tower (tied embedding once); attention scores and checkpoint recompute not "
    "counted; MFU = FLOPs / seconds / dense bf16 peak"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("3b", "tiny"), default="3b")
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None)
    parser.add_argument(
        "--seconds-budget",
        type=float,
        default=None,
        help="whole run incl. model build (default 420 for 3b, 120 for tiny)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per phase, at most")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="cap every generation length (default: none for 3b, 24 for tiny)",
    )
    parser.add_argument(
        "--autocast",
        choices=("bf16", "none"),
        default=None,
        help="default bf16 on a GPU that has it, none (fp32) on CPU",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="image cap (default: the paper's 256*32*32 for 3b, the factory's 112*112 for tiny)",
    )
    parser.add_argument("--question-tokens", type=int, default=64)
    parser.add_argument("--answer-tokens", type=int, default=512, help="SFT answer length")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="dense bf16 peak for MFU (default: from the card's name)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASE_WEIGHTS),
        help=f"comma-separated subset of {','.join(PHASE_WEIGHTS)}",
    )
    args = parser.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    unknown = set(args.phases.split(",")) - set(PHASE_WEIGHTS)
    if unknown:
        parser.error(f"--phases: unknown {', '.join(sorted(unknown))}")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.seconds_budget is None:
        args.seconds_budget = 420.0 if args.size == "3b" else 120.0
    if args.size == "tiny":
        args.max_new_tokens = args.max_new_tokens or 24
        args.max_pixels = args.max_pixels or image_pixel_bounds("tiny")[1]
    args.max_pixels = args.max_pixels or PROJECT_EVAL_DEFAULTS["max_pixels"]
    if args.autocast is None:
        bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
        args.autocast = "bf16" if bf16 else "none"
    args.out = args.out or REPO / "bench" / "results" / f"gpu_{args.size}_{args.device}.json"
    return args


def card(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {}
    props = torch.cuda.get_device_properties(device)
    return {
        "gpu_name": props.name,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "gpu_multiprocessors": props.multi_processor_count,
        "gpu_capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
    }


def release(model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """Free what a phase left behind (gradients; its frames after an exception)."""
    for parameter in model.parameters():
        parameter.grad = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return peak_memory(device)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    columns = (
        "status",
        "step_s",
        "generation_tokens_per_s",
        "training_tokens_per_s",
        "mfu",
        "peak_memory_gib",
        "weights_changed_share",
    )
    print(f"{'phase':<32}" + "".join(f"{c[:14]:>16}" for c in columns))
    for name, result in results.items():
        cells = "".join(f"{result.get(c, '-')!s:>16}" for c in columns)
        print(f"{name:<32}{cells}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    started = STARTED if __name__ == "__main__" else time.perf_counter()
    args = parse_args(argv)
    deadline = started + args.seconds_budget
    device = torch.device(args.device)
    torch.manual_seed(0)
    model, processor = build_model(args.size, device, args.max_pixels)
    vision = sum(p.numel() for p in model.model.visual.parameters())
    total = sum(p.numel() for p in model.parameters())
    peak = args.peak_tflops
    if peak is None and device.type == "cuda":
        peak = dense_bf16_peak_tflops(torch.cuda.get_device_name(device))
    bench = Bench(
        model=model,
        processor=processor,
        device=device,
        autocast_dtype=torch.bfloat16 if args.autocast == "bf16" else None,
        flops=FlopCounter(total - vision, vision, peak),
        steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        max_pixels=args.max_pixels,
        question_tokens=args.question_tokens,
        answer_tokens=args.answer_tokens,
    )
    setup_s = time.perf_counter() - started
    variants = {f"grpo_{v.name}": v for v in grpo_variants()}
    runners: dict[str, Runner] = {
        "eval": partial(run_eval, bench),
        "sft": partial(run_sft, bench),
        **{name: partial(run_grpo, bench, variant) for name, variant in variants.items()},
    }
    # Settings that need less memory, tried after an out-of-memory: activation checkpointing
    # for SFT; for GRPO, the reference model in bf16 instead of TRL's fp32 copy of the policy.
    bf16_reference = with_bf16_reference(variants["grpo_project"])
    fallbacks = {
        "sft": ("sft_activation_checkpointing", partial(run_sft, bench, checkpointing=True)),
        "grpo_project": (f"grpo_{bf16_reference.name}", partial(run_grpo, bench, bf16_reference)),
    }
    chosen = args.phases.split(",")
    schedule = Schedule(
        weights={name: w for name, w in PHASE_WEIGHTS.items() if name in chosen},
        runners=runners,
        deadline=deadline,
        budget_s=args.seconds_budget,
        after_phase=partial(release, model, device),
        fallbacks=fallbacks,
    )
    phases = schedule.run(started)
    result = {
        "benchmark": "gpu",
        "size": args.size,
        "device": args.device,
        "machine": machine(
            **card(device),
            transformers=transformers.__version__,
            alloc_conf=os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
        ),
        "model": {
            "architecture": "Qwen2_5_VLForConditionalGeneration, random weights, "
            + (
                "Qwen/Qwen2.5-VL-3B-Instruct config.json values (vlaa.modeling.factory)"
                if args.size == "3b"
                else "vlaa.modeling.factory tiny"
            ),
            "parameters": total,
            "lm_parameters": total - vision,
            "vision_parameters": vision,
        },
        "precision": precision_name(bench),
        "flops_convention": FLOPS_CONVENTION,
        "peak_tflops": peak,
        "settings": {
            "seconds_budget": args.seconds_budget,
            "steps": args.steps,
            "max_new_tokens_cap": args.max_new_tokens,
            "max_pixels": args.max_pixels,
            "question_tokens": args.question_tokens,
            "answer_tokens": args.answer_tokens,
        },
        "setup_s": round(setup_s, 2),
        "phases": phases,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(phases)
    print(f"elapsed {result['elapsed_s']} s; wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
