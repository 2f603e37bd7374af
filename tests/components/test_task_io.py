"""TaskIO: what a component's runtime reads of the arguments KFP bound, and the thin components."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlaa.components.task_io import TaskIO

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def _arguments() -> dict:
    def run(arguments: dict) -> None:  # what the component body imported, also in locals()
        raise AssertionError("never called")

    return {
        "model": SimpleNamespace(path="/artifacts/model", metadata={}),
        "base_report": None,  # an optional input artifact KFP left unconnected
        "config": {"max_steps": 2},
        "run_id": "",
        "run": run,
    }


def test_paths_artifacts_and_parameters() -> None:
    io = TaskIO(_arguments())
    assert io.path("model") == Path("/artifacts/model")
    io.artifact("model").metadata["steps"] = 2
    assert io.artifact("model").metadata == {"steps": 2}
    assert io.param("config") == {"max_steps": 2}
    assert io.param("run_id") == ""  # an empty string is a value, not a missing one


def test_optional_inputs_and_defaults() -> None:
    io = TaskIO(_arguments())
    assert io.optional_path("base_report") is None
    assert "base_report" not in io and "model" in io
    assert io.param("missing", {"default": True}) == {"default": True}


def test_the_imported_runtime_function_is_not_an_argument() -> None:
    with pytest.raises(KeyError, match="component has no argument 'run'"):
        TaskIO(_arguments()).artifact("run")


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in COMPONENTS.glob("*/component.py")))
def test_each_component_body_hands_its_arguments_to_its_runtime(folder: str) -> None:
    """The signature is written once: the body imports ``run`` and passes ``locals()``."""
    tree = ast.parse((COMPONENTS / folder / "component.py").read_text())
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    docstring, *statements = function.body
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
    assert [ast.unparse(node) for node in statements] == [
        f"from vlaa.components.{folder}.runtime import run",
        "run(locals())",
    ]
