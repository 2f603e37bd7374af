"""The tiny Qwen2.5-VL-architecture model factory: files, tokenizer, chat template, sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2_5_VLForConditionalGeneration,
)

from vlaa.modeling.factory import (
    REASONING_TAGS,
    SPECIAL_TOKENS,
    build_config,
    count_parameters,
    default_corpus,
    make_model,
    train_tokenizer,
)
from vlaa.prompts import SYSTEM_PROMPT

CHAT_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>")
# Parameter counts of the published Qwen/Qwen2.5-VL-3B-Instruct and -7B-Instruct checkpoints.
PUBLIC_PARAMETERS = {"3b": 3.75e9, "7b": 8.29e9}


def _image(colour: str = "red", side: int = 112) -> Image.Image:
    return Image.new("RGB", (side, side), colour)


def _user_turn(text: str = "How many objects are there?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(path))
    return tensors


@pytest.fixture(scope="module")
def processor(tiny_model_dir: Path):
    return AutoProcessor.from_pretrained(tiny_model_dir)


def test_model_folder_has_weights_processor_and_provenance(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert "config.json" in names
    assert any(name.endswith(".safetensors") for name in names)
    assert "tokenizer.json" in names or "tokenizer_config.json" in names
    info = json.loads((tiny_model_dir / "vlaa_model.json").read_text())
    assert info["size"] == "tiny" and info["seed"] == 0
    assert 0 < info["parameters"] < 5_000_000


def test_tiny_model_loads_and_generates_from_image_and_prompt(
    tiny_model_dir: Path, processor
) -> None:
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = processor.apply_chat_template(_user_turn(), add_generation_prompt=True)
    inputs = processor(text=[text], images=[_image()], return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    prompt_length = inputs["input_ids"].shape[1]
    assert output.shape[0] == 1
    # Greedy decoding may stop early at <|im_end|>, but it produces at least one token.
    assert prompt_length < output.shape[1] <= prompt_length + 4
    assert isinstance(processor.batch_decode(output[:, prompt_length:])[0], str)


def test_tokenizer_has_chat_and_vision_special_tokens(processor) -> None:
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    for token in (*CHAT_TOKENS, *VISION_TOKENS, *SPECIAL_TOKENS):
        assert token in vocab, token
        assert tokenizer.encode(token, add_special_tokens=False) == [vocab[token]]
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|endoftext|>"


@pytest.mark.parametrize("tag", REASONING_TAGS)
def test_reasoning_tag_is_one_token_that_survives_skip_special_tokens(processor, tag: str) -> None:
    tokenizer = processor.tokenizer
    ids = tokenizer.encode(tag, add_special_tokens=False)
    assert len(ids) == 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == tag


def test_decoding_a_response_keeps_tags_and_drops_chat_tokens(processor) -> None:
    tokenizer = processor.tokenizer
    response = "<think> I see 3 objects. </think><answer> 3 </answer>"
    ids = tokenizer.encode(response + "<|im_end|>", add_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=True) == response


def test_chat_template_puts_system_prompt_first_and_an_image_pad(processor) -> None:
    text = processor.apply_chat_template(_user_turn("What colour?"), add_generation_prompt=True)
    assert text.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n")
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What colour?" in text
    assert text.count("<|image_pad|>") == 1
    assert text.endswith("<|im_start|>assistant\n")


def test_chat_template_keeps_an_explicit_system_turn(processor) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *_user_turn()]
    text = processor.apply_chat_template(messages, add_generation_prompt=False)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert SYSTEM_PROMPT not in text


def test_112_pixel_image_becomes_16_image_tokens(processor) -> None:
    text = processor.apply_chat_template(_user_turn(), add_generation_prompt=True)
    inputs = processor(text=[text], images=[_image()], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 8, 8]]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_pad).sum()) == 16


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_public_size_parameter_counts_match_qwen2_5_vl(size: str) -> None:
    config = build_config(size, train_tokenizer(default_corpus()))  # type: ignore[arg-type]
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    expected = PUBLIC_PARAMETERS[size]
    assert count_parameters(model) == pytest.approx(expected, rel=0.03)


def test_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model size"):
        build_config("huge", train_tokenizer(default_corpus()))  # type: ignore[arg-type]


def test_same_seed_gives_identical_weights_and_another_seed_differs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    again = _weights(make_model(tmp_path / "again", size="tiny", seed=0))
    other = _weights(make_model(tmp_path / "other", size="tiny", seed=1))
    reference = _weights(tiny_model_dir)
    assert again.keys() == reference.keys()
    assert all(torch.equal(again[name], reference[name]) for name in reference)
    assert any(not torch.equal(other[name], reference[name]) for name in reference)
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (
        tiny_model_dir / "tokenizer.json"
    ).read_bytes()
