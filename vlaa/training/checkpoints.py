"""Finding the checkpoint a killed training run resumes from."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

# The Trainer writes trainer_state.json after the weights, optimizer, scheduler and RNG state,
# so a checkpoint folder without it was cut off mid-write and cannot be resumed from.
COMPLETE_MARKER = "trainer_state.json"
_STEP = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")

log = logging.getLogger(__name__)


def checkpoint_step(path: Path) -> int | None:
    match = _STEP.match(path.name)
    return int(match.group(1)) if match else None


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` under ``folder`` that was written to the end, if any."""
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.iterdir() if p.is_dir() and checkpoint_step(p) is not None),
        key=lambda p: checkpoint_step(p) or 0,
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / COMPLETE_MARKER).is_file():
            return candidate
        log.warning("skipping incomplete checkpoint %s (no %s)", candidate, COMPLETE_MARKER)
    return None
