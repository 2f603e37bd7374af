"""What each training process runs: ``python -m vlaa.launch.worker`` (under torchrun).

::

    torchrun [--nproc-per-node G ...] -m vlaa.launch.worker --stage sft|grpo \\
        --config URI --base-model URI --train-split URI --output URI --run-id ID [--arm ARM]

URIs are ``s3://bucket/prefix`` (``minio://`` too) or local paths (used in place: torchrun
in the step's pod). Per node, local rank 0 fetches the object-store inputs once into the
node's work folder and writes a marker last; the other local ranks wait for the marker.
Every rank then calls the step's own ``run_sft`` / ``run_grpo`` (transformers, accelerate
and DeepSpeed read torchrun's environment). Global rank 0 writes the result and, for an S3
output, uploads it with a completeness marker written last:

    <output>/model/...              the trained model folder
    <output>/run/summary.json       the step's summary (paths relative to run/)
    <output>/run/train_log.jsonl    the training log; run/curves.png for GRPO
    <output>/vlaa-complete.json     every file's size and SHA-256; written last

A reader that finds no marker knows the result is incomplete and refuses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vlaa.storage import ObjectStore, check_key, file_sha256, object_store_uri, open_store
from vlaa.training.steps import STAGES, training_step

log = logging.getLogger("vlaa.worker")

MARKER = "vlaa-complete.json"
MODEL_DIR = "model"
RUN_DIR = "run"
SUMMARY_FILE = "summary.json"
FETCHED_MARKER = ".vlaa-fetched"
FETCH_FAILED_MARKER = ".vlaa-fetch-failed"
FETCH_TIMEOUT_ENV = "VLAA_FETCH_TIMEOUT_S"


class IncompleteResultError(RuntimeError):
    """A staged folder without its completeness marker, or whose files do not match it."""


# ---------------------------------------------------------------------------- ranks


@dataclass(frozen=True)
class Ranks:
    """This process's place, from torchrun's environment (one process: all zero)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    attempt: str = "0"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Ranks:
        env = dict(os.environ if env is None else env)
        return cls(
            rank=int(env.get("RANK", "0")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            world_size=int(env.get("WORLD_SIZE", "1")),
            attempt=f"{env.get('TORCHELASTIC_RUN_ID', 'none')}:"
            f"{env.get('TORCHELASTIC_RESTART_COUNT', '0')}",
        )


# ---------------------------------------------------------------------------- transfers


def _local_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "" or len(parts.scheme) == 1:
        return Path(uri).expanduser()
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return None


def _store(uri: str) -> ObjectStore:
    return open_store(object_store_uri(uri) or uri)


def upload_folder(folder: Path, uri: str) -> dict[str, Any]:
    """Upload every file under ``folder`` to ``uri``, then the marker listing them."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; nothing to upload")
    store = _store(uri)
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = check_key(path.relative_to(folder).as_posix())
        if key == MARKER:
            continue  # a marker left from an earlier attempt is written fresh below
        digest, size = file_sha256(path)
        store.put_file(key, path, sha256=digest)
        files[key] = {"sha256": digest, "size": size}
    manifest = {"files": files, "created": time.time()}
    store.put_bytes(MARKER, json.dumps(manifest, indent=2).encode())
    return manifest


def write_marker(folder: Path) -> dict[str, Any]:
    """The marker of a local result folder (the files are where they are already)."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        digest, size = file_sha256(path)
        files[path.relative_to(folder).as_posix()] = {"sha256": digest, "size": size}
    manifest = {"files": files, "created": time.time()}
    (folder / MARKER).write_text(json.dumps(manifest, indent=2))
    return manifest


def download_folder(uri: str, destination: Path, require_marker: bool = False) -> Path:
    """Copy the folder at ``uri`` to ``destination`` (replaced if present).

    With a marker at ``uri`` only the files it lists are fetched, and each is checked against
    its size and SHA-256; without one every object under ``uri`` is fetched (a KFP artifact,
    complete once its producing task ended), unless ``require_marker``.
    """
    local = _local_path(uri)
    if local is not None and local.resolve() == destination.resolve():
        _check_marker(destination, require_marker)
        return destination
    store = _store(uri)
    manifest = _read_marker(store)
    if manifest is None and require_marker:
        raise IncompleteResultError(
            f"{uri} has no {MARKER}: the job did not finish writing its result"
        )
    keys = sorted(manifest["files"]) if manifest else [k for k in store.list() if k != MARKER]
    if not keys:
        raise FileNotFoundError(f"nothing stored under {uri}")
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for key in keys:
        target = destination.joinpath(*check_key(key).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(key, target)
        if manifest:
            _verify(target, key, manifest["files"][key], uri)
    if manifest:
        (destination / MARKER).write_text(json.dumps(manifest, indent=2))
    return destination


def _read_marker(store: ObjectStore) -> dict[str, Any] | None:
    if not store.exists(MARKER):
        return None
    return json.loads(store.get_bytes(MARKER))


def _check_marker(folder: Path, require_marker: bool) -> None:
    marker = folder / MARKER
    if not marker.is_file():
        if require_marker:
            raise IncompleteResultError(f"{folder} has no {MARKER}: the run did not finish")
        return
    manifest = json.loads(marker.read_text())
    for key, expected in manifest["files"].items():
        _verify(folder.joinpath(*key.split("/")), key, expected, str(folder))


def _verify(path: Path, key: str, expected: dict[str, Any], where: str) -> None:
    if not path.is_file():
        raise IncompleteResultError(f"{where}: {key} is listed in {MARKER} but missing")
    digest, size = file_sha256(path)
    if size != expected["size"] or digest != expected["sha256"]:
        raise IncompleteResultError(
            f"{where}: {key} does not match {MARKER} (size {size} vs {expected['size']})"
        )


def read_bytes(uri: str) -> bytes:
    """One file: a local path or ``s3://bucket/prefix/name``."""
    local = _local_path(uri)
    if local is not None:
        return local.read_bytes()
    root, _, name = (object_store_uri(uri) or uri).rpartition("/")
    return open_store(root).get_bytes(name)


def fetch_inputs_once_per_node(
    sources: dict[str, str],
    node_dir: Path,
    ranks: Ranks,
    timeout: float = 3600.0,
    poll: float = 1.0,
) -> dict[str, Path]:
    """Local folders of the inputs: local paths are used where they are; object-store inputs
    are fetched by local rank 0 into ``node_dir/inputs`` while the other local ranks wait.

    A marker written after the last byte says the inputs are complete; a failure marker
    (tagged with this torchrun attempt) lets the waiting ranks stop at once.
    """
    paths: dict[str, Path] = {}
    remote: dict[str, str] = {}
    for name, uri in sources.items():
        local = _local_path(uri)
        if local is None:
            remote[name] = uri
            paths[name] = node_dir / "inputs" / name
        elif not local.is_dir():
            raise FileNotFoundError(f"input folder {local} ({name}) does not exist")
        else:
            paths[name] = local
    if remote:
        _fetch_once(remote, node_dir / "inputs", ranks, timeout, poll)
    return paths


def _fetch_once(
    sources: dict[str, str], inputs: Path, ranks: Ranks, timeout: float, poll: float
) -> None:
    done, failed = inputs / FETCHED_MARKER, inputs / FETCH_FAILED_MARKER
    if ranks.local_rank == 0:
        if done.is_file() and json.loads(done.read_text()) == sources:
            return  # a restarted attempt: fetched already
        inputs.mkdir(parents=True, exist_ok=True)
        done.unlink(missing_ok=True)
        failed.unlink(missing_ok=True)
        try:
            for name, uri in sources.items():
                log.info("fetching %s from %s", name, uri)
                download_folder(uri, inputs / name)
        except BaseException as error:
            failed.write_text(f"{ranks.attempt}\n{type(error).__name__}: {error}")
            raise
        done.write_text(json.dumps(sources))
        return
    deadline = time.monotonic() + timeout
    while True:
        if done.is_file() and json.loads(done.read_text()) == sources:
            return
        if failed.is_file():
            attempt, _, message = failed.read_text().partition("\n")
            if attempt == ranks.attempt:
                raise RuntimeError(f"local rank 0 could not fetch the inputs: {message}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"inputs not fetched into {inputs} within {timeout:.0f} s")
        time.sleep(poll)


# ---------------------------------------------------------------------------- result


def write_result(result_dir: Path, summary: dict[str, Any]) -> None:
    """Global rank 0: the summary and the run's files beside the model, then the marker."""
    run_dir = result_dir / RUN_DIR
    run_dir.mkdir(parents=True, exist_ok=True)
    stored = dict(summary)
    for key, name in (("log", "train_log.jsonl"), ("curves", "curves.png")):
        source = Path(summary[key]) if summary.get(key) else None
        if source is not None and source.is_file():
            shutil.copyfile(source, run_dir / name)
            stored[key] = name
        else:
            stored[key] = None
    (run_dir / SUMMARY_FILE).write_text(json.dumps(stored, indent=2, default=str))


def read_result(result_dir: Path) -> dict[str, Any]:
    """The summary of a complete result, its file paths made absolute."""
    _check_marker(result_dir, require_marker=True)
    run_dir = result_dir / RUN_DIR
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    for key in ("log", "curves"):
        if summary.get(key):
            summary[key] = str(run_dir / summary[key])
    return summary


def take_model(result_dir: Path, model_dir: Path) -> None:
    """Move the trained model of a result into the step's output folder."""
    source = result_dir / MODEL_DIR
    if not source.is_dir():
        raise IncompleteResultError(f"{result_dir} holds no {MODEL_DIR}/ folder")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(model_dir))


# ---------------------------------------------------------------------------- training


def run_worker(
    stage: str,
    config_uri: str,
    base_model: str,
    train_split: str,
    output: str,
    run_id: str,
    arm: str,
    work_dir: Path,
    ranks: Ranks,
) -> dict[str, Any] | None:
    """Fetch, train, and (global rank 0) publish the result; returns rank 0's summary."""
    from vlaa.observability.callback import metrics_callbacks

    config_class, train = training_step(stage)
    config = config_class.model_validate(json.loads(read_bytes(config_uri)))
    timeout = float(os.environ.get(FETCH_TIMEOUT_ENV, "3600"))
    inputs = fetch_inputs_once_per_node(
        {"base_model": base_model, "train_split": train_split}, work_dir, ranks, timeout
    )
    local_output = _local_path(output)
    result_dir = local_output if local_output is not None else work_dir / "result"
    if ranks.rank == 0:
        if result_dir.exists():
            shutil.rmtree(result_dir)
        model_dir = result_dir / MODEL_DIR
    else:  # only global rank 0 saves weights; the others' folders are scratch
        model_dir = work_dir / f"rank-{ranks.rank}" / MODEL_DIR
    summary = train(
        inputs["base_model"],
        inputs["train_split"],
        model_dir,
        config,
        work_dir=work_dir / "train",
        extra_callbacks=metrics_callbacks(stage, run_id, arm, config.metrics_settings()),
    )
    if ranks.rank != 0:
        return None
    write_result(result_dir, summary)
    if local_output is None:
        log.info("uploading the result to %s", output)
        upload_folder(result_dir, output)
    else:
        write_marker(result_dir)
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vlaa.launch.worker",
        description="One training process of a multi-GPU / multi-node SFT or GRPO run.",
    )
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--config", required=True, help="step config JSON: path or s3:// URI")
    parser.add_argument("--base-model", required=True, help="model folder: path or s3:// URI")
    parser.add_argument("--train-split", required=True, help="split folder: path or s3:// URI")
    parser.add_argument("--output", required=True, help="result folder: path or s3:// URI")
    parser.add_argument("--run-id", required=True, help="metrics label run_id")
    parser.add_argument("--arm", default=None, help="metrics label arm (default: the stage)")
    parser.add_argument(
        "--work-dir",
        default=None,
        help="node-local scratch folder shared by this node's processes "
        "(default: $TMPDIR/vlaa-worker/<run-id>-<stage>)",
    )
    return parser.parse_args(argv)


def use_cpu_processes_when_no_gpu(ranks: Ranks) -> None:
    """Several processes without a GPU: tell accelerate to run them as one CPU (gloo) group;
    otherwise each process would train alone on the whole dataset."""
    import torch

    if ranks.world_size > 1 and not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ranks = Ranks.from_env()
    use_cpu_processes_when_no_gpu(ranks)
    logging.basicConfig(
        level=logging.INFO,
        format=f"[rank {ranks.rank}/{ranks.world_size}] %(levelname)s %(name)s: %(message)s",
    )
    work_dir = Path(args.work_dir) if args.work_dir else _default_work_dir(args.run_id, args.stage)
    run_worker(
        args.stage,
        args.config,
        args.base_model,
        args.train_split,
        args.output,
        args.run_id,
        args.arm or args.stage,
        work_dir,
        ranks,
    )
    return 0


def _default_work_dir(run_id: str, stage: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in run_id)[:60]
    return Path(tempfile.gettempdir()) / "vlaa-worker" / f"{safe}-{stage}"


if __name__ == "__main__":
    sys.exit(main())
