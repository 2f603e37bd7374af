"""Finding the checkpoint a killed training run resumes from."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from transformers import PreTrainedModel
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from vlaa.modeling.loading import load_model

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


def load_model_to_train(init_dir: Path, resume_from: Path | None) -> PreTrainedModel:
    """The model a run trains: the init model, or the checkpoint's weights when resuming.

    transformers 5.23's Trainer restores checkpoint weights with a plain ``load_state_dict``,
    which misses every Qwen2.5-VL parameter (checkpoints are saved in the original key layout,
    the live model uses the renamed one) and only warns. So the weights are read here with
    ``from_pretrained``, which maps the keys; the Trainer then restores optimizer, scheduler
    and RNG state. The config keeps pointing at the init model, so GRPO's reference model and
    the lineage stay the init model, not the checkpoint.
    """
    if resume_from is None:
        return load_model(init_dir)
    model = load_model(resume_from)
    model.config._name_or_path = str(init_dir)
    log.warning(
        "weights loaded from %s; the Trainer's own reload may warn about missing keys", resume_from
    )
    return model
