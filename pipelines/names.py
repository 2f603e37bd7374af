"""The pipelines' names and the short names the CLI accepts (no KFP import: the CLI resolves a
name, and refuses a wrong one, before anything heavy loads)."""

from __future__ import annotations

THINKER = "vlaa-thinker"
STUDY = "vlaa-sft-vs-rl"
# Short names accepted by ``vlaa run/compile/submit/schedule --pipeline`` as well as the full ones.
PIPELINE_ALIASES = {"thinker": THINKER, "sft-vs-rl": STUDY, THINKER: THINKER, STUDY: STUDY}


def pipeline_name(name: str) -> str:
    """The full name of pipeline ``name`` (short or full); KeyError naming the choices."""
    if name not in PIPELINE_ALIASES:
        raise KeyError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINE_ALIASES)}")
    return PIPELINE_ALIASES[name]


# ``vlaa run --local --runner``: KFP's SubprocessRunner or DockerRunner (pipelines/local_run.py).
RUNNERS = ("subprocess", "container")


def check_runner(runner: str) -> str:
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; choose {' or '.join(RUNNERS)}")
    return runner
