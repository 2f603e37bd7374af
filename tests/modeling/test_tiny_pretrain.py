"""The pretrained ``tiny`` base: its data is in the system prompt's format, it is cached by seed
and settings (written once, atomically), and the real pretraining yields a model that answers
in format and better than chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vlaa.modeling import tiny_base
from vlaa.modeling.tiny_base import SUMMARY_FILE, cache_key, cached_tiny_base
from vlaa.modeling.tiny_pretrain import (
    SCENE_OFFSET,
    PretrainSettings,
    answer_check,
    collate,
    examples,
)
from vlaa.rewards.extract import extract_answer
from vlaa.rewards.registry import score

QUICK = PretrainSettings(
    num_scenes=8, single_object_scenes=2, steps=2, batch_size=4, warmup_steps=1
)


def test_every_target_is_a_direct_answer_in_format(tmp_path: Path) -> None:
    data = examples(
        PretrainSettings(num_scenes=40, single_object_scenes=5), seed=0, scratch=tmp_path
    )
    assert len(data) > 40  # captions on top of one answer per scene
    for example in data:
        assert example.target.startswith("<think></think><answer>")
        assert extract_answer(example.target)  # the reward's format check passes
    captions = [e for e in data if e.question.startswith("Describe the image.")]
    places = (" at the ", " centre", " on the middle ")
    assert captions and all(any(p in e.target for p in places) for e in captions)
    # each caption says how many objects it names
    for example in captions:
        answer = extract_answer(example.target)
        head, objects = answer.split(": ", 1)
        assert head.split()[2] == str(objects.count(", ") + 1)
    # the scenes are not those of a data build (which numbers scenes from 0)
    assert sorted(p.name for p in (tmp_path / "synthetic").iterdir())[0] == f"{SCENE_OFFSET}.png"


def test_one_object_scenes_follow_the_main_scenes(tmp_path: Path) -> None:
    settings = PretrainSettings(num_scenes=6, single_object_scenes=4, caption_share=1.0)
    data = examples(settings, seed=0, scratch=tmp_path)
    assert len(data) == 2 * 10  # an answer and a caption per scene
    names = sorted(p.name for p in (tmp_path / "synthetic").iterdir())
    assert len(names) == 10 and names[-1] == f"{SCENE_OFFSET + 9}.png"
    single = [e.target for e in data[-8:] if "There is" in e.target]
    assert len(single) == 4  # the last four scenes hold one object each


def test_direct_answers_are_scored_as_correct(tmp_path: Path) -> None:
    from vlaa.data.synthetic import SyntheticConfig, generate

    config = SyntheticConfig(seed=0, num_samples=12, start_index=SCENE_OFFSET)
    records = [record for record, _ in generate(config, tmp_path / "check")]
    settings = PretrainSettings(num_scenes=12, single_object_scenes=0)
    data = [e for e in examples(settings, 0, tmp_path) if "?" in e.question]
    for record, example in zip(records, data, strict=True):
        assert score(record.reward_type, example.target, record.answer) == 1.0


def test_the_loss_covers_the_answer_only(tmp_path: Path) -> None:
    from transformers import AutoProcessor

    from vlaa.modeling.factory import make_model

    model_dir = make_model(tmp_path / "model", seed=0)
    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"
    batch = examples(PretrainSettings(num_scenes=4, single_object_scenes=0), 0, tmp_path / "scenes")
    inputs = collate(processor, batch[:3])
    for row, example in enumerate(batch[:3]):
        labelled = inputs["labels"][row][inputs["labels"][row] != -100]
        text = processor.tokenizer.decode(labelled)
        assert text == example.target + "<|im_end|>"


def test_the_base_is_built_once_per_seed_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tiny_base.CACHE_ENV, str(tmp_path))
    first, summary = cached_tiny_base(0, QUICK)
    assert first == tmp_path / "tiny-base" / cache_key(0, QUICK)
    assert summary["seed"] == 0 and summary["settings"]["steps"] == 2

    def no_training(*_: object) -> None:
        raise AssertionError("a cached base was trained again")

    monkeypatch.setattr(tiny_base, "pretrain_tiny", no_training)
    again, _ = cached_tiny_base(0, QUICK)
    assert again == first
    assert cache_key(1, QUICK) != cache_key(0, QUICK)
    assert cache_key(0, PretrainSettings(steps=3)) != cache_key(0, QUICK)
    # nothing but the finished folder and its lock is left in the cache
    assert sorted(p.name for p in first.parent.iterdir()) == sorted(
        [first.name, f"{first.name}.lock"]
    )
    assert json.loads((first / SUMMARY_FILE).read_text())["cache_key"] == first.name


def test_the_pretraining_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file

    weights = []
    for name in ("a", "b"):
        monkeypatch.setenv(tiny_base.CACHE_ENV, str(tmp_path / name))
        folder, _ = cached_tiny_base(0, QUICK)
        weights.append(load_file(folder / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_an_interrupted_build_leaves_no_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tiny_base.CACHE_ENV, str(tmp_path))

    def interrupted(output_dir: Path, *_: object) -> None:
        (output_dir / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny_base, "pretrain_tiny", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cached_tiny_base(0, QUICK)
    key = cache_key(0, QUICK)
    assert [p.name for p in (tmp_path / "tiny-base").iterdir()] == [f"{key}.lock"]
    # a killed process skips its cleanup: the next build of the key removes that scratch
    (tmp_path / "tiny-base" / f".{key}-killed").mkdir()
    monkeypatch.undo()
    monkeypatch.setenv(tiny_base.CACHE_ENV, str(tmp_path))
    cached_tiny_base(0, QUICK)
    assert not (tmp_path / "tiny-base" / f".{key}-killed").exists()


@pytest.mark.slow
def test_the_pretrained_base_sees(pretrained_tiny_dir: Path) -> None:
    # Scenes as the default data build draws them (seed 0, from index 0): never trained on.
    shown = answer_check(pretrained_tiny_dir, num_scenes=100, seed=0)
    blind = answer_check(pretrained_tiny_dir, num_scenes=100, seed=0, blind=True)
    assert shown["format_rate"] >= 0.9
    # The same questions with an empty image: what answer priors alone score (about the best
    # text-only guess, 0.35 overall: bench/tiny_base_sees.py). Seeing the scene must beat it.
    assert shown["accuracy"] >= blind["accuracy"] + 0.05
    assert shown["accuracy_digit"] >= blind["accuracy_digit"] + 0.1
