"""The run form: every input of both compiled pipelines carries a description, in the order a
user thinks in, and each group's description names all its keys (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vlaa.parameters import STEP_CONFIGS
from vlaa.pipelines.run_form import SECTIONS, run_form

COMPILED = Path(__file__).resolve().parents[2] / "pipelines" / "compiled"


def _inputs(name: str) -> dict:
    document = next(yaml.safe_load_all((COMPILED / f"{name}.yaml").read_text()))
    return document["root"]["inputDefinitions"]["parameters"]


@pytest.mark.parametrize("name", ["vlaa-thinker", "vlaa-sft-vs-rl"])
def test_every_input_is_described_in_the_compiled_yaml(name: str) -> None:
    inputs = _inputs(name)
    assert len(inputs) >= 10
    for parameter, spec in inputs.items():
        description = spec.get("description", "")
        place, _, text = description.partition(": ")
        number, _, section = place.partition(" ")
        assert section in SECTIONS and number == f"{SECTIONS.index(section) + 1}/7", parameter
        assert len(text) > 30, parameter
        if parameter in STEP_CONFIGS:
            for key in STEP_CONFIGS[parameter].model_fields:
                assert f" {key}," in text or f" {key}." in text, (parameter, key)
            assert "Documented in docs/parameters.md" in text, parameter


def test_the_order_follows_the_users_groups() -> None:
    sections = {
        p: spec["description"].split(" ")[1].rstrip(":")
        for p, spec in _inputs("vlaa-thinker").items()
    }
    order = ["base_model", "grpo_init", "data", "sft", "evaluate", "publish", "gpu_type"]
    assert [SECTIONS.index(sections[p]) for p in order] == sorted(
        SECTIONS.index(sections[p]) for p in order
    )
    assert sections["base_model"] == "model" and sections["gpu_tolerations"] == "cluster"


def test_a_parameter_without_an_entry_is_refused() -> None:
    def pipeline(base_model: str, mystery: int) -> None: ...

    with pytest.raises(KeyError, match="mystery"):
        run_form("x")(pipeline)
