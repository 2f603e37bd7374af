"""A publisher process for the concurrency tests: publishes one new model per round, in step
with its rival (a barrier), under one model name in a shared store.

Runs in a ``spawn``-ed process (tests/registry/test_publish_concurrency.py). A random pause
between claiming a number and uploading makes the rivals finish in either order.
"""

from __future__ import annotations

import hashlib
import random
import time
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np

NAME = "raced"


def make_model(folder: Path, seed: int) -> str:
    """A small model folder whose weights differ per seed; the weights' SHA-256."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).standard_normal((256, 256)).astype(np.float32)
    save_file({"w": weights}, str(folder / "model.safetensors"))  # 256 KiB
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    (folder / "config.json").write_text(f'{{"model_type": "qwen2_5_vl", "seed": {seed}}}')
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def race(
    worker: int,
    rounds: int,
    store_uri: str,
    workdir: str,
    barrier: Barrier,
    results: Queue[dict[str, Any]],
) -> None:
    """Publish ``rounds`` models, each after the barrier; put one result dict per round."""
    from vlaa.registry import publish as publish_module
    from vlaa.registry.config import PublishConfig

    rng = random.Random(worker)
    write_version = publish_module.write_version

    def paused_write(*args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(rng.uniform(0.0, 0.05))  # between the claim and the uploads
        return write_version(*args, **kwargs)

    publish_module.write_version = paused_write  # type: ignore[assignment]
    config = PublishConfig(store_uri=store_uri, model_name=NAME)
    for round_ in range(rounds):
        seed = 1000 * round_ + worker
        weights = make_model(Path(workdir) / f"w{worker}-r{round_}", seed)
        record: dict[str, Any] = {"round": round_, "worker": worker, "weights": weights}
        try:
            barrier.wait(timeout=60)
            result = publish_module.publish(
                Path(workdir) / f"w{worker}-r{round_}",
                config,
                metrics={"accuracy": 0.5},
                train_config={},
                data_card={},
                lineage={"pipeline_run_id": f"run-{seed}"},
            )
            record.update(result.model_dump(include={"version", "alias_version", "resumed"}))
        except Exception:
            record["error"] = traceback.format_exc()
        results.put(record)
