"""Timing, memory, FLOPs and weight-change measurements for the GPU benchmark.

Timing: CUDA work is asynchronous, so every clock read is preceded by
``torch.cuda.synchronize()`` (synchronize before reading a host clock).
Memory: ``torch.cuda.max_memory_allocated`` since the phase's ``reset_peak_memory_stats``;
on CPU the process's peak resident set (it cannot be reset, so it only grows).
FLOPs (the usual model-FLOPs convention, attention scores and activation recompute left out):
training ``6 * N_lm * tokens``, generation and other no-grad forwards ``2 * N_lm * tokens``,
where ``N_lm`` counts the language model's parameters (the tied embedding once, as the LM head)
and ``tokens`` every non-padding token through it, image tokens included; the frozen vision
tower adds its forward, ``2 * N_vision * patches``.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

GIB = 2**30


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(device: torch.device, into: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of the block, device work included, to ``into[key]``."""
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    into[key] = into.get(key, 0.0) + time.perf_counter() - start


def reset_peak_memory(device: torch.device) -> dict[str, float]:
    """Start a phase's peak; returns what was already allocated (weights of other phases)."""
    if device.type != "cuda":
        return {}
    torch.cuda.reset_peak_memory_stats(device)
    return {"memory_at_start_gib": round(torch.cuda.memory_allocated(device) / GIB, 3)}


def peak_memory(device: torch.device) -> dict[str, float | str]:
    """Peak memory of the phase (CUDA) or of the process so far (CPU), in GiB."""
    if device.type == "cuda":
        return {
            "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / GIB, 3),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved(device) / GIB, 3),
            "peak_memory_kind": "torch.cuda.max_memory_allocated since the phase began",
        }
    max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "peak_memory_gib": round(max_rss_kib / 2**20, 3),
        "peak_memory_kind": "process peak resident set so far (CPU)",
    }


@dataclass(frozen=True)
class FlopCounter:
    """Model FLOPs of a step from token and patch counts (see the module docstring)."""

    lm_parameters: int
    vision_parameters: int
    peak_tflops: float | None

    def forward(self, tokens: int, patches: int) -> float:
        return 2.0 * self.lm_parameters * tokens + 2.0 * self.vision_parameters * patches

    def training(self, tokens: int, patches: int) -> float:
        # The vision tower is frozen: its forward only (its merger's backward is negligible).
        return 6.0 * self.lm_parameters * tokens + 2.0 * self.vision_parameters * patches

    def mfu(self, flops: float, seconds: float) -> float | None:
        if self.peak_tflops is None or seconds <= 0:
            return None
        return round(flops / seconds / (self.peak_tflops * 1e12), 5)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


class ChangeSampler:
    """Share of trainable weights whose value an optimizer step changed, from a fixed sample.

    Copying all of a 3B model's fp32 weights would take 12 GiB more device memory, so each
    trainable tensor contributes up to ``per_tensor`` fixed random elements (all of a smaller
    tensor); each tensor's changed fraction is weighted by its size.
    """

    def __init__(self, model: torch.nn.Module, per_tensor: int = 4096, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.entries: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for parameter in model.parameters():
            if not parameter.requires_grad:
                continue
            flat = parameter.detach().view(-1)
            count = flat.numel()
            if count <= per_tensor:
                index = torch.arange(count)
            else:
                index = torch.randint(count, (per_tensor,), generator=generator)
            index = index.to(flat.device)
            self.entries.append((parameter, index, flat[index].clone()))

    def changed_share(self) -> dict[str, float | int]:
        changed = 0.0
        total = 0
        sampled = 0
        with torch.no_grad():
            for parameter, index, before in self.entries:
                after = parameter.detach().view(-1)[index]
                fraction = (after != before).float().mean().item()
                changed += fraction * parameter.numel()
                total += parameter.numel()
                sampled += index.numel()
        return {
            "weights_changed_share": round(changed / total, 5) if total else 0.0,
            "weights_changed_sampled_elements": sampled,
            "trainable_parameters": total,
        }
