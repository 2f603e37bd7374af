"""Base-model resolution throughput: copy + checksum of a model shard, by source.

Builds the tiny model plus one random shard of ``--size-mb`` MiB (a stand-in for a real
checkpoint's ``model-0000N-of-0000M.safetensors``; resolution never parses weights) and resolves
it as a folder and as ``hf://`` from a Hugging Face cache laid out on disk (offline, the layout
of tests/modeling/test_hf_source.py), reporting seconds and MiB/s of each. Every byte is read,
hashed (SHA-256, plus git SHA-1 for small Hub files) and written once. Results go to
``bench/results/base_model_resolve.json`` with the machine.
Usage: ``python bench/base_model_resolve.py [--size-mb 1024] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine

from vlaa.modeling.base_models import resolve_base_model
from vlaa.modeling.factory import make_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.hf_cache import lay_out_snapshot, set_ref

RESULTS = Path(__file__).parent / "results" / "base_model_resolve.json"
MIB = 1 << 20


def timed(source: str, output: Path, size: int) -> dict:
    started = time.perf_counter()
    resolved = resolve_base_model(source, output)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "mib_per_s": round(size / MIB / seconds, 1),
        "kind": resolved.lineage["kind"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        root = Path(scratch)
        model = make_model(root / "model", size="tiny", seed=0)
        with (model / "model-00002-of-00002.safetensors").open("wb") as shard:
            for _ in range(args.size_mb):
                shard.write(os.urandom(MIB))
        size = sum(p.stat().st_size for p in model.iterdir())
        repo = lay_out_snapshot(root / "hf" / "hub", "bench/model", model, "c" * 40, tree=True)
        set_ref(repo, "main", "c" * 40)
        os.environ.update(HF_HOME=str(root / "hf"), HF_HUB_OFFLINE="1")
        results = {
            "bytes": size,
            "folder": timed(str(model), root / "out-folder", size),
            "hf_offline_cache": timed("hf://bench/model", root / "out-hf", size),
        }
    report = {"resolve": results, "machine": machine()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
