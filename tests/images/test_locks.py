"""Every image lock satisfies its own packages' declared requirements, with no overrides.

Offline: the locked packages' Requires-Dist / Requires-Python come from the committed
snapshot images/requirements/metadata.json (images/lock-metadata.sh fetched it from PyPI).
Starting from the project (pyproject.toml, with the extras the image installs), every
requirement whose marker holds on the images' platform (CPython 3.11, Linux x86_64) must name a
locked package whose pinned version its specifier admits, and every locked package must be
reached: what pip's resolver would check at install time, without an install.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "images" / "requirements"
PROJECT = "vlaa-thinker"
# The images' interpreter and platform (images/*.Dockerfile: Debian bookworm, CPython 3.11).
PYTHON = "3.11.2"
ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": PYTHON,
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": PYTHON,
    "python_version": "3.11",
    "sys_platform": "linux",
}
# lock -> extras of the project the image installs (trainer: `pip install '.[gpu]'`).
IMAGES = {"trainer.lock": {"gpu"}, "tools.lock": set()}


@dataclass(frozen=True)
class Package:
    version: str
    requires_python: str | None
    requires_dist: list[str]


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            name, sep, version = spec.partition("==")
            assert sep and version.strip(), f"{path.name}: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def project_package() -> Package:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requires = list(project["dependencies"])
    for extra, extra_requires in project.get("optional-dependencies", {}).items():
        requires += [f"{r}; extra == '{extra}'" if ";" not in r else r for r in extra_requires]
    version = project["version"]
    return Package(version, project.get("requires-python"), requires)


def load_packages(lock: dict[str, str], snapshot: dict[str, dict]) -> dict[str, Package]:
    packages = {PROJECT: project_package()}
    for name, version in lock.items():
        meta = snapshot[f"{name}=={version}"]
        packages[name] = Package(version, meta["requires_python"], meta["requires_dist"])
    return packages


def _active(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    # A marker holds when it is true without an extra or with one of the requested extras.
    return any(
        requirement.marker.evaluate({**ENVIRONMENT, "extra": extra}) for extra in {"", *extras}
    )


def violations(packages: dict[str, Package], root_extras: set[str]) -> list[str]:
    """Every unsatisfied requirement, and every locked package nothing requires."""
    problems: list[str] = []
    wanted: dict[str, set[str]] = {PROJECT: set(root_extras)}
    done: dict[str, set[str]] = {}
    while wanted:
        name, extras = wanted.popitem()
        if extras <= done.get(name, set()) and name in done:
            continue
        done[name] = done.get(name, set()) | extras
        package = packages[name]
        if package.requires_python and not SpecifierSet(package.requires_python).contains(PYTHON):
            problems.append(f"{name}=={package.version}: Requires-Python {package.requires_python}")
        for line in package.requires_dist:
            requirement = Requirement(line)
            if not _active(requirement, done[name]):
                continue
            dep = canonicalize_name(requirement.name)
            if dep not in packages:
                problems.append(f"{name}=={package.version} requires {line!r}: not in the lock")
                continue
            pinned = Version(packages[dep].version)
            if not requirement.specifier.contains(pinned, prereleases=True):
                problems.append(
                    f"{name}=={package.version} requires {line!r}: the lock has {dep}=={pinned}"
                )
            if dep not in done or not requirement.extras <= done[dep]:
                wanted[dep] = wanted.get(dep, set()) | set(requirement.extras)
    problems += [f"{name} is locked but nothing requires it" for name in packages.keys() - done]
    return problems


@pytest.fixture(scope="module")
def snapshot() -> dict[str, dict]:
    return json.loads((REQ / "metadata.json").read_text())


def test_snapshot_matches_the_locks(snapshot):
    """Same names and versions: rerun images/lock-metadata.sh after images/lock-requirements.sh."""
    locked = {f"{n}=={v}" for lock in IMAGES for n, v in read_lock(REQ / lock).items()}
    assert set(snapshot) == locked, (
        f"missing from the snapshot: {sorted(locked - set(snapshot))}; "
        f"stale in the snapshot: {sorted(set(snapshot) - locked)}"
    )


@pytest.mark.parametrize("lock", sorted(IMAGES))
def test_every_requirement_holds_in_the_lock(lock, snapshot):
    packages = load_packages(read_lock(REQ / lock), snapshot)
    assert violations(packages, IMAGES[lock]) == []


def test_trainer_set():
    """The set images/README.md documents: vLLM inside TRL's vllm extra, its torch pin."""
    trainer = read_lock(REQ / "trainer.lock")
    assert {k: trainer[k] for k in ("torch", "vllm", "trl", "transformers")} == {
        "torch": "2.13.0",
        "vllm": "0.31.0",
        "trl": "1.16.0",
        "transformers": "5.17.0",
    }
    assert {"deepspeed", "peft", "accelerate"} <= trainer.keys()
    assert "flash-attn" not in trainer


def test_tools_runs_the_dev_venvs_torch():
    tools = read_lock(REQ / "tools.lock")
    assert (tools["torch"], tools["torchvision"]) == ("2.14.1", "0.29.1")


def test_the_old_trainer_set_is_caught(snapshot):
    """The set issue 13 found (torch 2.14.1 under a vLLM that pins torch) fails the check."""
    lock = read_lock(REQ / "trainer.lock") | {"torch": "2.14.1"}
    snapshot = snapshot | {"torch==2.14.1": snapshot["torch==2.14.1"]}
    problems = violations(load_packages(lock, snapshot), {"gpu"})
    assert "vllm==0.31.0 requires 'torch==2.13.0': the lock has torch==2.14.1" in problems


def test_unrequested_extras_missing_packages_and_strays():
    packages = {
        PROJECT: Package("0.1.0", ">=3.11,<3.12", ["a>=1", "b; extra == 'gpu'"]),
        "a": Package("1.0", None, ["c<2", "d; sys_platform == 'win32'", "e; extra == 'x'"]),
        "c": Package("2.0", ">=3.12", []),
        "stray": Package("1.0", None, []),
    }
    assert violations(packages, set()) == [
        "a==1.0 requires 'c<2': the lock has c==2.0",
        "c==2.0: Requires-Python >=3.12",
        "stray is locked but nothing requires it",
    ]
    assert "vlaa-thinker==0.1.0 requires \"b; extra == 'gpu'\": not in the lock" in violations(
        packages, {"gpu"}
    )
