"""Adaptive KL coefficient for GRPO, as OpenRLHF runs it (the paper's GRPO is based on OpenRLHF).

The paper: "KL coefficient initial 1e-3 with target 5e-4". OpenRLHF's ``--init_kl_coef`` /
``--kl_target`` pair drives the proportional controller of Ziegler et al. (2019): the
coefficient grows while the measured KL is above the target and shrinks while it is below,
by at most 20% of ``batch / horizon`` per update. TRL's GRPOTrainer only has a fixed ``beta``,
so a callback feeds each logged ``kl`` to the controller and writes the new value back into
the trainer. The value travels with every checkpoint so a resumed run continues from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

STATE_FILE = "vlaa_kl_controller.json"
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


class AdaptiveKLCallback(TrainerCallback):
    """Updates ``trainer.beta`` from each logged KL; saves and restores the controller state.

    ``trainer`` is attached after the trainer is built (it needs the callback list first).
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

    def on_save(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            save_state(self, checkpoint)


def save_state(callback: AdaptiveKLCallback, checkpoint_dir: Path) -> None:
    payload = {"value": callback.controller.value, "last_update_step": callback._last_update_step}
    (checkpoint_dir / STATE_FILE).write_text(json.dumps(payload))


def restore_state(callback: AdaptiveKLCallback, checkpoint_dir: Path) -> bool:
    """Load the coefficient saved with ``checkpoint_dir``; False when none was saved."""
    path = checkpoint_dir / STATE_FILE
    if not path.is_file():
        return False
    payload = json.loads(path.read_text())
    callback.controller.value = float(payload["value"])
    callback._last_update_step = int(payload["last_update_step"])
    if callback.trainer is not None:
        callback.trainer.beta = callback.controller.value
    return True
