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
    from vlaa.components.build_dataset.step import BuildDatasetConfig, build_dataset

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
