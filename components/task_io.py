"""One object for everything KFP hands a component at run time.

Each component's signature is written once, in its ``component.py``; the body passes
``locals()`` (the arguments KFP bound, by name) to its runtime module, which reads them here.
KFP's executor (kfp/dsl/executor.py, ``Executor.execute``) builds those arguments: input
artifacts and output artifacts are ``kfp.dsl.Artifact`` objects with ``.path`` and ``.metadata``;
parameters arrive as plain values; an optional input artifact that was not connected is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class TaskIO:
    """The component's arguments by name, with typed accessors for paths and parameters."""

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        # The body's locals() also hold the runtime function it imported; only arguments matter.
        self._arguments = {k: v for k, v in arguments.items() if not callable(v)}

    def __contains__(self, name: str) -> bool:
        return self._arguments.get(name) is not None

    def artifact(self, name: str) -> Any:
        """The KFP artifact object itself (``.path``, ``.metadata``, ``log_metric``)."""
        try:
            return self._arguments[name]
        except KeyError:
            raise KeyError(f"component has no argument {name!r}") from None

    def path(self, name: str) -> Path:
        """Local path of an input or output artifact."""
        return Path(self.artifact(name).path)

    def output_file(self, name: str, suffix: str) -> Path:
        """Local path of the one-file output artifact ``name``, its URI ending in ``suffix``
        (``.html``, ``.md``, ``.json``) so a downloaded copy opens by type. KFP keeps the URI a
        component leaves on an output artifact: the executor writes ``artifact.uri`` to the
        executor output (kfp/dsl/executor.py, ``write_executor_output``), the v2 launcher takes
        it (``mergeRuntimeArtifacts``) and uploads the file from that URI's local path
        (kubeflow/pipelines backend/src/v2/component/launcher_v2.go); downstream tasks get it."""
        artifact = self.artifact(name)
        if not artifact.uri.endswith(suffix):
            artifact.uri += suffix
        return Path(artifact.path)

    def optional_path(self, name: str) -> Path | None:
        """Path of an optional input artifact, ``None`` when it was not connected."""
        return self.path(name) if name in self else None

    def param(self, name: str, default: Any = None) -> Any:
        """A plain parameter (str, int, dict ...); ``default`` when absent or ``None``."""
        value = self._arguments.get(name)
        return default if value is None else value
