"""Finding the checkpoint a killed training run resumes from, and whether it is finished."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from vlaa.modeling.loading import load_model

# transformers 5.23's Trainer._save_checkpoint writes trainer_state.json after the weights,
# optimizer, scheduler and RNG state, and puts every ExportableState callback's state into it
# (the KL controller's too, vlaa.training.kl_control): a checkpoint whose trainer_state.json is
# missing, cut off or unreadable was interrupted mid-write and cannot be resumed from.
COMPLETE_MARKER = "trainer_state.json"
_STEP = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")

log = logging.getLogger(__name__)


def checkpoint_step(path: Path) -> int | None:
    match = _STEP.match(path.name)
    return int(match.group(1)) if match else None


def read_trainer_state(checkpoint: Path) -> dict[str, Any] | None:
    """The checkpoint's trainer state; None (with the reason logged) when it is missing,
    damaged or belongs to another step."""
    path = checkpoint / COMPLETE_MARKER
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        reason = f"no {COMPLETE_MARKER}"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = f"unreadable {COMPLETE_MARKER}: {error}"
    else:
        if isinstance(state, dict) and state.get("global_step") == checkpoint_step(checkpoint):
            return state
        reason = f"{COMPLETE_MARKER} does not record step {checkpoint_step(checkpoint)}"
    log.warning("skipping incomplete checkpoint %s (%s)", checkpoint, reason)
    return None


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
        if read_trainer_state(candidate) is not None:
            return candidate
    return None


def finished_at(checkpoint: Path, max_steps: int) -> bool:
    """Whether ``checkpoint`` already holds the run's last step: ``max_steps`` when set
    (> 0), else the step count the run computed from its epochs (saved as ``max_steps``)."""
    state = read_trainer_state(checkpoint) or {}
    limit = max_steps if max_steps > 0 else int(state.get("max_steps") or 0)
    return limit > 0 and int(state.get("global_step") or 0) >= limit


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
