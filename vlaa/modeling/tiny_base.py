"""The ``tiny[:SEED]`` base model: pretrained once per seed and settings, then reused from disk.

The pretraining (vlaa/modeling/tiny_pretrain.py) takes minutes on 2 CPU cores, so its result
is cached under ``$VLAA_CACHE_DIR/tiny-base/<key>/`` (default ``~/.cache/vlaa``). The key
hashes the seed, the settings, the code that builds and trains the model (these modules, the
factory, the scene generator, the prompts) and the torch / transformers versions: any change
there builds a new base rather than reusing a stale one. A folder appears in the cache only
once complete (written beside it, then renamed), and a lock file keeps two processes from
training the same base at once: the second waits and reuses the first's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vlaa.modeling.tiny_pretrain import PretrainSettings, pretrain_tiny

CACHE_ENV = "VLAA_CACHE_DIR"
SUMMARY_FILE = "vlaa_pretraining.json"
# Whose source is part of the cache key: what decides the pretrained weights.
_KEY_MODULES = (
    "vlaa.modeling.tiny_pretrain",
    "vlaa.modeling.factory",
    "vlaa.data.synthetic",
    "vlaa.prompts",
)

# What ``tiny`` is pretrained with (tests swap in a smaller budget).
DEFAULT_SETTINGS = PretrainSettings()

logger = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$VLAA_CACHE_DIR/tiny-base`` or ``~/.cache/vlaa/tiny-base``."""
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vlaa"
    return Path(base) / "tiny-base"


def cache_key(seed: int, settings: PretrainSettings) -> str:
    """Hash of the seed, the settings, the code that trains the model and library versions."""
    import importlib

    import torch
    import transformers

    sources = {}
    for name in _KEY_MODULES:
        module = importlib.import_module(name)
        sources[name] = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
    material = {
        "seed": seed,
        "settings": asdict(settings),
        "code": sources,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def cached_tiny_base(
    seed: int, settings: PretrainSettings | None = None
) -> tuple[Path, dict[str, Any]]:
    """The cached pretrained tiny model of ``seed`` (built first if missing) and its summary."""
    settings = settings or DEFAULT_SETTINGS
    root = cache_root()
    key = cache_key(seed, settings)
    target = root / key
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (target / SUMMARY_FILE).is_file():
            for stale in root.glob(f".{key}-*"):  # a killed build's scratch (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            logger.info("pretraining the tiny base (seed %d) into %s", seed, target)
            scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
            try:
                summary = pretrain_tiny(scratch, seed, settings)
                summary.update(seed=seed, cache_key=key)
                (scratch / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
                shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover
                os.replace(scratch, target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return target, json.loads((target / SUMMARY_FILE).read_text())


def write_tiny_base(
    output_dir: Path, seed: int, settings: PretrainSettings | None = None
) -> dict[str, Any]:
    """Copy the pretrained tiny base of ``seed`` into ``output_dir`` (an empty folder);
    return its pretraining summary."""
    folder, summary = cached_tiny_base(seed, settings)
    shutil.copytree(folder, output_dir, dirs_exist_ok=True)
    return summary
