"""How a local task's container is started: who it runs as, what it sees, its environment.

The subprocess runner's tasks inherit this process's user, files and environment; a container
gets only what is passed. So that the two runners behave alike:

- the run's output folder (artifacts, registry, events file), the tiny-base cache and the
  LLM-teacher response cache are bind mounted at the same paths as on the host (KFP itself
  mounts only the pipeline root: kfp/local/docker_task_handler.py, ``get_volumes_to_mount``);
- the container runs as the calling user (files in the output folder stay the user's), with
  ``HOME`` in /tmp (the images' home belongs to uid 1000);
- the host network (a teacher endpoint on loopback is reachable as in a subprocess);
- ``VLAA_*``, ``AWS_*`` and ``HF_TOKEN`` variables are passed on, plus the run's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlaa.cluster import TEACHER_CACHE_ENV

PASSED_PREFIXES = ("VLAA_", "AWS_")
PASSED_NAMES = ("HF_TOKEN", "HF_HUB_OFFLINE")
CACHE_ENV = "VLAA_CACHE_DIR"
SHM_SIZE = "1g"  # torch DataLoader workers share tensors through /dev/shm (64 MB by default)


def vlaa_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$VLAA_CACHE_DIR`` or ``~/.cache/vlaa``: the default of vlaa/modeling/tiny_base.py's
    ``cache_root`` (which imports torch; a test checks the two agree)."""
    env = os.environ if env is None else env
    return Path(env.get(CACHE_ENV) or Path.home() / ".cache" / "vlaa")


def teacher_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The LLM-teacher response cache a build on this host would use (vlaa/data/config.py)."""
    from vlaa.data.config import default_teacher_cache

    env = os.environ if env is None else env
    return Path(env.get(TEACHER_CACHE_ENV) or default_teacher_cache())


def task_environment(run_env: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict:
    """The host variables passed on, then ``run_env`` (the run's own) over them. The caches
    are named by their host paths: inside, ``HOME`` is /tmp and would move the defaults."""
    env = os.environ if env is None else env
    passed = {
        name: value
        for name, value in env.items()
        if name.startswith(PASSED_PREFIXES) or name in PASSED_NAMES
    }
    return {
        **passed,
        CACHE_ENV: str(vlaa_cache_dir(env)),
        TEACHER_CACHE_ENV: str(teacher_cache_dir(env)),
        "HOME": "/tmp",
        "HF_HOME": "/tmp/huggingface",
        **run_env,
    }


def container_run_args(output_dir: Path, run_env: Mapping[str, str]) -> dict[str, Any]:
    """``DockerRunner(**...)`` arguments (docker-py ``containers.run`` keywords) for a run
    writing to ``output_dir``."""
    from docker.types import Mount

    caches = [vlaa_cache_dir(), teacher_cache_dir()]
    for cache in caches:
        cache.mkdir(parents=True, exist_ok=True)  # a bind mount's source must exist
    # Nested paths (the teacher cache below ~/.cache/vlaa) are mounted again: harmless.
    mounts = [
        Mount(target=str(path), source=str(path), type="bind")
        for path in dict.fromkeys([output_dir.resolve(), *(c.resolve() for c in caches)])
    ]
    return {
        "user": f"{os.getuid()}:{os.getgid()}",
        "environment": task_environment(run_env),
        "mounts": mounts,
        "network_mode": "host",
        "shm_size": SHM_SIZE,
    }
