"""Adaptive KL coefficient for GRPO, as OpenRLHF runs it (the paper's GRPO is based on OpenRLHF).

The paper: "KL coefficient initial 1e-3 with target 5e-4". OpenRLHF's ``--init_kl_coef`` /
``--kl_target`` pair drives the proportional controller of Ziegler et al. (2019): the
coefficient grows while the measured KL is above the target and shrinks while it is below,
by at most 20% of ``batch / horizon`` per update. TRL's GRPOTrainer only has a fixed ``beta``,
so a callback feeds each logged ``kl`` to the controller and writes the new value back into
the trainer. The value travels with every checkpoint so a resumed run continues from it: as an
``ExportableState`` callback, transformers writes it inside the checkpoint's
``trainer_state.json`` (``Trainer._save_checkpoint``), the file that marks a checkpoint
complete, so no kill can leave a complete checkpoint without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ExportableState

from vlaa.training.checkpoints import read_trainer_state

MAX_PROPORTIONAL_ERROR = 0.2


@dataclass
class AdaptiveKLController:
    """Proportional controller of the KL coefficient towards a target KL value."""

    value: float
    target: float
    horizon: int

    def update(self, current_kl: float, samples: int) -> float:
        """Move the coefficient after ``samples`` completions whose mean KL was ``current_kl``."""
        error = current_kl / self.target - 1.0
        error = max(-MAX_PROPORTIONAL_ERROR, min(MAX_PROPORTIONAL_ERROR, error))
        self.value *= 1.0 + error * samples / self.horizon
        return self.value


class AdaptiveKLCallback(TrainerCallback, ExportableState):
    """Updates ``trainer.beta`` from each logged KL; its state is saved in every checkpoint.

    ``trainer`` is attached after the trainer is built (it needs the callback list first).
    Restored by :func:`restore_state`, not by the Trainer's own
    ``restore_callback_states_from_checkpoint`` (refused in the config), which would replace
    this callback with a new one that has no trainer attached.
    """

    def __init__(self, controller: AdaptiveKLController, samples_per_step: int) -> None:
        self.controller = controller
        self.samples_per_step = samples_per_step
        self.trainer: Any = None
        self._last_update_step = 0

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer
        trainer.beta = self.controller.value

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "kl" not in logs or self.trainer is None:
            return
        steps = state.global_step - self._last_update_step
        if steps <= 0:
            return
        self._last_update_step = state.global_step
        self.trainer.beta = self.controller.update(float(logs["kl"]), steps * self.samples_per_step)
        # Logged next to the KL so the coefficient's path is visible in the curves and metrics.
        logs["beta"] = self.trainer.beta

    def state(self) -> dict[str, Any]:
        """Called by ``Trainer._save_checkpoint`` just before it writes ``trainer_state.json``
        (after the log of the same step has updated the coefficient)."""
        return {
            "args": {},
            "attributes": {
                "value": self.controller.value,
                "last_update_step": self._last_update_step,
            },
        }

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        # Trainer._save_checkpoint indexes stateful_callbacks by class name; a state loaded from
        # a checkpoint written without this callback lacks the entry.
        state.stateful_callbacks.setdefault(type(self).__name__, self.state())


def restore_state(callback: AdaptiveKLCallback, checkpoint_dir: Path) -> bool:
    """Load the coefficient saved with ``checkpoint_dir``; False when none was saved."""
    trainer_state = read_trainer_state(checkpoint_dir) or {}
    saved = (trainer_state.get("stateful_callbacks") or {}).get(type(callback).__name__)
    if not isinstance(saved, dict) or "value" not in saved.get("attributes", {}):
        return False
    attributes = saved["attributes"]
    callback.controller.value = float(attributes["value"])
    callback._last_update_step = int(attributes["last_update_step"])
    if callback.trainer is not None:
        callback.trainer.beta = callback.controller.value
    return True
