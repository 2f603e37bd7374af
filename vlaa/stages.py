"""Stage events: each component reports start, end, metrics and artifacts.

On a cluster, KFP's UI shows stage status and duration itself; the events matter for
``vlaa run --local``, which sets ``VLAA_EVENTS_FILE`` so the summary table and ``run.json``
can be built from what each stage really did. Known user errors end the stage with one clear
line instead of a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlaa.errors import USER_ERROR_TYPES, describe_validation_error

EVENTS_ENV = "VLAA_EVENTS_FILE"


@dataclass
class StageRecorder:
    name: str
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def _emit(event: dict[str, Any]) -> None:
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, default=str) + "\n")


@contextmanager
def stage(name: str) -> Iterator[StageRecorder]:
    """Time a stage and report it; a user error exits with a one-line message."""
    recorder = StageRecorder(name)
    started = time.time()
    _emit({"stage": name, "status": "running", "time": started})
    try:
        yield recorder
    except USER_ERROR_TYPES as error:
        message = str(error)
        if isinstance(error, ValidationError):
            message = describe_validation_error(error, name)
        _emit(
            {
                "stage": name,
                "status": "failed",
                "seconds": time.time() - started,
                "error": message,
                "time": time.time(),
            }
        )
        print(f"[vlaa] stage {name} failed: {message}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except BaseException as error:
        _emit(
            {
                "stage": name,
                "status": "failed",
                "seconds": time.time() - started,
                "error": f"{type(error).__name__}: {error}",
                "time": time.time(),
            }
        )
        raise
    _emit(
        {
            "stage": name,
            "status": "succeeded",
            "seconds": round(time.time() - started, 2),
            "wall_seconds": round(time.time() - _process_started(), 2),
            "metrics": recorder.metrics,
            "artifacts": recorder.artifacts,
            "time": time.time(),
        }
    )


def _process_started() -> float:
    """When this process began: a stage's wall time includes starting Python and its imports."""
    import psutil

    return psutil.Process().create_time()


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
