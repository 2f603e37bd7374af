"""Fast tests of the GRPO step's parts: adaptive KL, checkpoints, curves, DeepSpeed configs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlaa.errors import ConfigError
from vlaa.training.checkpoints import last_complete_checkpoint
from vlaa.training.config import GRPOStepConfig
from vlaa.training.curves import curves_html, plot_curves
from vlaa.training.deepspeed import STAGES, config_path, deepspeed_config
from vlaa.training.kl_control import AdaptiveKLCallback, AdaptiveKLController, restore_state

# ----------------------------------------------------------------------------- adaptive KL


def test_coefficient_grows_while_kl_is_above_target() -> None:
    controller = AdaptiveKLController(value=1e-3, target=5e-4, horizon=10_000)
    # Error clipped at +20%: 1 + 0.2 * 2048 / 10000.
    assert controller.update(current_kl=1.0, samples=2048) == pytest.approx(1e-3 * 1.04096)


def test_coefficient_shrinks_while_kl_is_below_target() -> None:
    controller = AdaptiveKLController(value=1e-3, target=5e-4, horizon=10_000)
    # KL 4e-4 is 20% under the target: 1 - 0.2 * 1000 / 10000.
    assert controller.update(current_kl=4e-4, samples=1000) == pytest.approx(1e-3 * 0.98)


def test_coefficient_holds_at_the_target() -> None:
    controller = AdaptiveKLController(value=1e-3, target=5e-4, horizon=10_000)
    assert controller.update(current_kl=5e-4, samples=4096) == pytest.approx(1e-3)


def _log(callback: AdaptiveKLCallback, step: int, kl: float) -> dict[str, float]:
    logs = {"kl": kl}
    callback.on_log(None, SimpleNamespace(global_step=step), None, logs=logs)  # type: ignore[arg-type]
    return logs


def test_callback_writes_the_coefficient_into_the_trainer_and_the_log() -> None:
    trainer = SimpleNamespace(beta=0.0)
    callback = AdaptiveKLCallback(AdaptiveKLController(1e-3, 5e-4, 100), samples_per_step=10)
    callback.attach(trainer)
    assert trainer.beta == 1e-3
    logs = _log(callback, step=2, kl=1.0)  # two steps since the last update: 20 samples
    assert trainer.beta == pytest.approx(1e-3 * (1 + 0.2 * 20 / 100))
    assert logs["beta"] == trainer.beta
    before = trainer.beta
    _log(callback, step=2, kl=1.0)  # the same step logged again (train end): no second update
    assert trainer.beta == before


def test_controller_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    saved = AdaptiveKLCallback(AdaptiveKLController(1e-3, 5e-4, 100), samples_per_step=10)
    saved.attach(SimpleNamespace(beta=0.0))
    _log(saved, step=3, kl=1.0)
    checkpoint = tmp_path / "checkpoint-3"
    checkpoint.mkdir()
    # What Trainer._save_checkpoint writes for an ExportableState callback.
    state = {"global_step": 3, "stateful_callbacks": {"AdaptiveKLCallback": saved.state()}}
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))

    trainer = SimpleNamespace(beta=0.0)
    restored = AdaptiveKLCallback(AdaptiveKLController(1e-3, 5e-4, 100), samples_per_step=10)
    restored.attach(trainer)
    assert restore_state(restored, checkpoint)
    assert trainer.beta == saved.controller.value
    assert restored._last_update_step == 3
    assert not restore_state(restored, tmp_path / "checkpoint-9")


# ----------------------------------------------------------------------------- checkpoints


def _checkpoint(root: Path, step: int, complete: bool) -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_resume_picks_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 2, complete=True)
    newest = _checkpoint(tmp_path, 10, complete=True)
    _checkpoint(tmp_path, 4, complete=True)  # numeric, not lexical order
    (tmp_path / "checkpoint-notes").mkdir()
    assert last_complete_checkpoint(tmp_path) == newest


def test_resume_skips_a_checkpoint_cut_off_mid_write(tmp_path: Path) -> None:
    complete = _checkpoint(tmp_path, 2, complete=True)
    _checkpoint(tmp_path, 4, complete=False)
    assert last_complete_checkpoint(tmp_path) == complete


def test_nothing_to_resume_from(tmp_path: Path) -> None:
    assert last_complete_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 2, complete=False)
    assert last_complete_checkpoint(tmp_path) is None


# ----------------------------------------------------------------------------- curves


def test_curves_draw_reward_per_type_kl_and_length(tmp_path: Path) -> None:
    log = [
        {"step": s, "reward": 0.1 * s, "rewards/mcq/mean": 0.2, "kl": 0.01 * s} for s in range(1, 5)
    ]
    png = plot_curves(log, tmp_path / "curves.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    page = curves_html(png, "GRPO <run>", {"steps": 4})
    assert "data:image/png;base64," in page
    assert "GRPO &lt;run&gt;" in page  # titles are escaped


def test_curves_of_an_empty_log_still_render(tmp_path: Path) -> None:
    assert plot_curves([], tmp_path / "empty.png").stat().st_size > 0


# ----------------------------------------------------------------------------- deepspeed


@pytest.mark.parametrize("stage", STAGES)
def test_packaged_zero_configs_leave_batch_sizes_to_the_trainer(stage: str) -> None:
    config = json.loads(config_path(stage).read_text())
    assert config["zero_optimization"]["stage"] == int(stage[-1])
    batch_keys = (
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
    )
    assert all(config[key] == "auto" for key in batch_keys)


def test_no_deepspeed_by_default() -> None:
    assert GRPOStepConfig().deepspeed == "none"
    assert deepspeed_config("none") is None


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here"
)
def test_deepspeed_without_the_package_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="needs the deepspeed package"):
        deepspeed_config("zero2")


def test_unknown_deepspeed_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="zero2, zero3"):
        config_path("zero9")
