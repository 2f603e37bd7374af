"""Quiet logs for ``vlaa run --local``: KFP's executor chatter and library warnings are hidden
unless ``--verbose`` asks for them; the stages' own lines, errors and progress stay.

KFP's local runner prints each task subprocess's output line by line to ``sys.stdout``
(kfp/local/subprocess_task_handler.py, ``run_local_subprocess``), including the executor's
INFO log, which dumps the whole executor input as indented JSON (kfp/dsl/executor_main.py,
``Got executor_input:``). The tasks inherit this process's environment, so warnings are
silenced there through the standard variables.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from typing import TextIO

# What the task subprocesses read: Python warnings, transformers' logging verbosity, and the
# Hugging Face progress bars of loading and saving a model (transformers' tqdm follows
# huggingface_hub's switch: transformers/utils/logging.py, ``_tqdm_active``).
QUIET_ENV = {
    "PYTHONWARNINGS": "ignore",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

_EXECUTOR_LINE = re.compile(r"^\s*\[KFP Executor [^\]]*\]: ")
_JSON_DUMP = "Got executor_input:"


class ExecutorLogFilter:
    """A text stream that passes lines on to ``target`` except KFP executor log lines and the
    executor-input JSON that follows ``Got executor_input:``."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""
        self._in_json = False
        self._json_indent: str | None = None

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if self._keep(line):
                self.target.write(line + "\n")
        return len(text)

    def _keep(self, line: str) -> bool:
        if self._in_json:
            indent = line[: len(line) - len(line.lstrip())]
            if self._json_indent is None and line.strip() == "{":
                self._json_indent = indent
            elif line.strip() == "}" and indent == self._json_indent:
                self._in_json, self._json_indent = False, None
            return False
        if _EXECUTOR_LINE.match(line):
            self._in_json = line.rstrip().endswith(_JSON_DUMP)
            return False
        return True

    def flush(self) -> None:
        if self._pending and self._keep(self._pending):
            self.target.write(self._pending)
        self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()


@contextlib.contextmanager
def quiet_task_logs(verbose: bool) -> Iterator[None]:
    """Hide executor chatter and library warnings for the duration (nothing when ``verbose``)."""
    if verbose:
        yield
        return
    chosen = {name: value for name, value in QUIET_ENV.items() if name not in os.environ}
    os.environ.update(chosen)  # the user's own settings of these win
    stream = ExecutorLogFilter(sys.stdout)
    try:
        with contextlib.redirect_stdout(stream):  # type: ignore[type-var]
            yield
    finally:
        stream.flush()
        for name in chosen:
            os.environ.pop(name, None)
