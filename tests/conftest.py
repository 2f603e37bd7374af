"""Session fixtures shared by the model, training, step and pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.s3_api import MotoS3, s3_env
from fixtures.configs import tiny_sft

SPLITS_AND_CARD: tuple[str, ...] = ("sft", "rl", "eval", "card")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-VL-architecture model (random weights), built once per session."""
    from vlaa.modeling.factory import make_model

    return make_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0)


@pytest.fixture(scope="session")
def pretrained_tiny_dir() -> Path:
    """The ``tiny`` base as runs get it (seed 0, default pretraining), from the user's cache
    (``VLAA_CACHE_DIR``): built at most once, shared with the pipeline tests' subprocesses."""
    from vlaa.modeling.tiny_base import cached_tiny_base

    return cached_tiny_base(0)[0]


@pytest.fixture
def quick_tiny_base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``tiny`` resolves to a seconds-long pretraining in a private cache (in this process)."""
    from vlaa.modeling import tiny_base
    from vlaa.modeling.tiny_pretrain import PretrainSettings

    quick = PretrainSettings(
        num_scenes=8, single_object_scenes=2, steps=2, batch_size=4, warmup_steps=1
    )
    monkeypatch.setattr(tiny_base, "DEFAULT_SETTINGS", quick)
    monkeypatch.setenv(tiny_base.CACHE_ENV, str(tmp_path / "vlaa-cache"))
    return tmp_path / "vlaa-cache"


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
    from vlaa.training.sft import run_sft

    output = tmp_path_factory.mktemp("tiny-sft") / "model"
    config = tiny_sft(40, 8, 8, learning_rate=3e-3, save_steps=1000)
    run_sft(tiny_model_dir, tiny_dataset["sft"], output, config)
    return output


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on loopback, one per test module (tests/doubles/s3_api.py)."""
    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket in ``moto_s3``, with the S3 endpoint and keys in the environment."""
    s3_env(monkeypatch, moto_s3.endpoint)
    return moto_s3.new_bucket()
