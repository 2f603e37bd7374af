"""Session fixtures shared by the model, training, step and pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

SPLITS_AND_CARD: tuple[str, ...] = ("sft", "rl", "eval", "card")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-VL-architecture model (random weights), built once per session."""
    from vlaa.modeling.factory import make_model

    return make_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic dataset: paths of the ``sft``, ``rl``, ``eval`` splits and ``card``."""
    from vlaa.data.config import BuildDatasetConfig
    from vlaa.data.engine import build_dataset

    root = tmp_path_factory.mktemp("dataset")
    paths = {name: root / name for name in SPLITS_AND_CARD}
    build_dataset(
        BuildDatasetConfig(num_samples=120, eval_size=20, seed=0),
        paths["sft"],
        paths["rl"],
        paths["eval"],
        paths["card"],
    )
    return paths


@pytest.fixture(scope="session")
def tiny_sft_model_dir(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model after a short SFT: it writes <answer> tags, so GRPO gets rewards > 0."""
    from vlaa.training.config import SFTStepConfig
    from vlaa.training.sft import run_sft

    output = tmp_path_factory.mktemp("tiny-sft") / "model"
    config = SFTStepConfig(
        learning_rate=3e-3,
        global_batch_size=8,
        per_device_batch_size=8,
        max_steps=40,
        warmup_ratio=0.0,
        save_steps=1000,
    )
    run_sft(tiny_model_dir, tiny_dataset["sft"], output, config)
    return output
