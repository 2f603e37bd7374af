"""``trainer_args``: any TRL ``SFTConfig`` / ``GRPOConfig`` field the paper's vocabulary lacks.

Validated where every run parameter is validated, without importing TRL (it loads torch): the
dataclass fields are read from the installed sources with ``ast``. The class chains are TRL
1.16's: ``SFTConfig`` / ``GRPOConfig`` (trl/trainer/{sft,grpo}_config.py) derive from
``_BaseConfig`` (trl/trainer/base_config.py), which derives from transformers'
``TrainingArguments`` (transformers/training_args.py). tests/training check the result against
``dataclasses.fields`` of the real classes, so a TRL upgrade that moves a field fails there.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

TrainerKind = Literal["sft", "grpo"]

_CHAINS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sft": (
        ("trl", "trainer/sft_config.py", "SFTConfig"),
        ("trl", "trainer/base_config.py", "_BaseConfig"),
        ("transformers", "training_args.py", "TrainingArguments"),
    ),
    "grpo": (
        ("trl", "trainer/grpo_config.py", "GRPOConfig"),
        ("trl", "trainer/base_config.py", "_BaseConfig"),
        ("transformers", "training_args.py", "TrainingArguments"),
    ),
}
TRL_CLASS = {"sft": "SFTConfig", "grpo": "GRPOConfig"}


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # a top-level spec: the package is not executed
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _class_fields(path: Path, class_name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    raise LookupError(f"class {class_name} not found in {path}")


@cache
def trl_config_fields(kind: TrainerKind) -> frozenset[str]:
    """Every dataclass field of TRL's config class for ``kind`` (and its bases)."""
    fields: set[str] = set()
    for package, relative, class_name in _CHAINS[kind]:
        fields |= _class_fields(_package_dir(package) / relative, class_name)
    return frozenset(fields)


def check_trainer_args(
    kind: TrainerKind, values: Mapping[str, Any], owned: Mapping[str, str]
) -> dict[str, Any]:
    """``values`` if every key is a field of TRL's config that the step does not set itself.

    ``owned`` maps the TRL fields the step derives from its own config to those fields' names,
    so the error can say which one to set instead.
    """
    known = trl_config_fields(kind)
    problems = []
    for name in values:
        if name in owned:
            problems.append(f"{name!r} is set by the step: use {kind}.{owned[name]}")
        elif name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name!r} is not a field of TRL's {TRL_CLASS[kind]}{hint}")
    if problems:
        raise ValueError("; ".join(problems))
    return dict(values)


def activation_checkpointing_field(kind: TrainerKind) -> str:
    """The ``TrainingArguments`` field that turns activation checkpointing on, in the installed
    transformers: ``activation_checkpointing`` from 5.23 (``gradient_checkpointing`` is its
    deprecated alias there, "will be removed in v6"), ``gradient_checkpointing`` alone in 5.17
    (the trainer image's: images/requirements/trainer.lock)."""
    fields = trl_config_fields(kind)
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else ("gradient_checkpointing")
    )
