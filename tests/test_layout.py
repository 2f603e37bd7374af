"""The house rules of the layout: dependency direction, a torch-free core, small modules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.import_graph import REPO, assemble, lint

HEAVY = ("torch", "transformers", "trl")
# What `vlaa run/submit/schedule/compile` and parameter validation import before any work.
LIGHT_MODULES = (
    "vlaa.parameters",
    "vlaa.cli",
    "vlaa.pipelines.submit",
    "vlaa.pipelines.cron",
    "vlaa.pipelines.compile",
    "vlaa.pipelines.local_run",
    "vlaa.training.config",
    "vlaa.training.log",
    "vlaa.evaluation.compare",
    "vlaa.evaluation.report",
    "vlaa.data.config",
    "vlaa.launch.config",
    "vlaa.evaluation.config",
    "vlaa.registry.config",
    "vlaa.rewards",
    "vlaa.storage",
    "vlaa.errors",
)
MAX_LINES = 500


def _contracts() -> list[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_import_contracts_hold(tmp_path: Path) -> None:
    assemble(tmp_path)
    result = lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_library_module_importing_a_component_breaks_the_contract(tmp_path: Path) -> None:
    package = assemble(tmp_path)
    records = package / "records.py"
    records.write_text(records.read_text() + "\nimport vlaa.components.task_io  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "vlaa.records -> vlaa.components.task_io" in result.stdout


def test_every_top_level_module_is_in_a_contract() -> None:
    named: set[str] = set()
    for contract in _contracts():
        named.update(contract.get("layers", []))
        named.update(contract.get("source_modules", []))
    present = {
        f"vlaa.{path.stem}"
        for path in (REPO / "vlaa").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    } | {"vlaa.components", "vlaa.pipelines"}
    assert present - named == set(), "add new top-level modules to pyproject's contracts"


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_load_no_torch(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", f"{module} loads {result.stdout.strip()}"


def test_a_bad_run_parameter_fails_before_torch_is_imported(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("sft:\n  learning_rat: 1e-5\n")
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vlaa.cli import app\n"
        f"result = CliRunner().invoke(app, ['run', '--local', '--params', {str(params)!r}])\n"
        "print(result.exit_code)\n"
        "print(result.output.replace(chr(10), ' '))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    exit_code, output, loaded = result.stdout.strip().splitlines()
    assert exit_code == "1"
    assert "sft.learning_rat: unknown parameter" in output
    assert loaded == "[]"


def test_no_source_file_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(REPO)): count
        for folder in ("vlaa", "components", "pipelines")
        for path in (REPO / folder).rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_package_is_listed_for_installation() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    mapped = {"vlaa": REPO / "vlaa", "vlaa.components": REPO / "components"}
    mapped["vlaa.pipelines"] = REPO / "pipelines"
    found = {"vlaa.pipelines"}
    for prefix, root in (("vlaa", mapped["vlaa"]), ("vlaa.components", mapped["vlaa.components"])):
        for init in root.rglob("__init__.py"):
            parts = init.parent.relative_to(root).parts
            found.add(".".join((prefix, *parts)) if parts else prefix)
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
