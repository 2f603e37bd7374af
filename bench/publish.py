"""Publish throughput: a model-sized folder to moto's S3 server on loopback, and to a folder.

Builds a folder of random ``*.safetensors`` shards (default 200 MB in 2 shards) plus the small
config / tokenizer files, then runs the production ``publish`` step (hash, multipart upload
with per-object SHA-256 check, model card, manifest last, alias) against ``moto_server``
started as a separate process on a free loopback port, through :class:`vlaa.storage.s3.S3Store`
(the ``minio`` client), and against a :class:`vlaa.storage.LocalStore` for comparison. Reports
MB/s (10^6 bytes per second of model bytes) and writes ``bench/results/publish.json``.

Usage: ``python bench/publish.py [--size-mb 200] [--shards 2] [--part-size-mb 16 64]
[--repeats 2]``. moto keeps objects in memory: allow about 3x the size in RAM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import minio
import moto
import requests
from machine_info import machine

from vlaa.registry.config import PublishConfig
from vlaa.registry.publish import publish
from vlaa.registry.store import verify_version
from vlaa.storage import open_store

RESULTS = Path(__file__).parent / "results" / "publish.json"
KEY_ID, SECRET = "bench-access-key", "bench-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return process, endpoint
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto_server did not start")


def make_model(folder: Path, size_mb: int, shards: int) -> int:
    """Random shards totalling ``size_mb`` MB, plus config/tokenizer files; returns bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    per_shard = size_mb * 10**6 // shards
    for index in range(shards):
        name = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        with (folder / name).open("wb") as handle:
            remaining = per_shard
            while remaining:
                chunk = min(remaining, 8 * 2**20)
                handle.write(os.urandom(chunk))
                remaining -= chunk
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 32768}')
    return sum(path.stat().st_size for path in folder.iterdir())


def timed_publish(model_dir: Path, store_uri: str, total: int) -> dict[str, Any]:
    config = PublishConfig(store_uri=store_uri, model_name="bench")
    started = time.perf_counter()
    result = publish(model_dir, config, {"accuracy": 0.5}, {}, {}, {"pipeline_run_id": "bench"})
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    verify_version(open_store(store_uri), "bench", result.version)
    verify_seconds = time.perf_counter() - started
    return {
        "version": result.version,
        "publish_seconds": round(seconds, 3),
        "publish_mb_per_s": round(total / seconds / 1e6, 1),
        "verify_seconds": round(verify_seconds, 3),
        "verify_mb_per_s": round(total / verify_seconds / 1e6, 1),
    }


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda run: run["publish_mb_per_s"]) | {"runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--part-size-mb", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vlaa-bench-publish-"))
    process, endpoint = start_moto()
    try:
        model_dir = work / "model"
        total = make_model(model_dir, args.size_mb, args.shards)
        print(f"model folder: {total / 1e6:.1f} MB in {args.shards} shards")
        os.environ.update(
            {
                "VLAA_S3_ENDPOINT": endpoint,
                "AWS_ACCESS_KEY_ID": KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_REGION": "us-east-1",
            }
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        results: dict[str, Any] = {}
        local_runs = [
            timed_publish(model_dir, str(work / f"local-{i}"), total) for i in range(args.repeats)
        ]
        results["local_folder"] = best(local_runs)
        print(f"local folder      {results['local_folder']['publish_mb_per_s']:>8.1f} MB/s")
        for part_mb in args.part_size_mb:
            os.environ["VLAA_S3_PART_SIZE_MB"] = str(part_mb)
            runs = []
            for index in range(args.repeats):
                bucket = f"bench-{part_mb}-{index}"
                s3.create_bucket(Bucket=bucket)
                runs.append(timed_publish(model_dir, f"s3://{bucket}/models", total))
                s3.delete_objects(  # free moto's memory for the next run
                    Bucket=bucket,
                    Delete={
                        "Objects": [
                            {"Key": item["Key"]}
                            for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                        ]
                    },
                )
            name = f"s3_moto_part_{part_mb}mib"
            shard_bytes = total // args.shards
            parts = -(-shard_bytes // (part_mb * 2**20))
            results[name] = best(runs) | {"part_size_mib": part_mb, "parts_per_shard": parts}
            print(f"{name:<18}{results[name]['publish_mb_per_s']:>8.1f} MB/s (publish)")
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "benchmark": "publish",
        "model_bytes": total,
        "shards": args.shards,
        "repeats": args.repeats,
        "note": "publish = hash + upload (multipart above the part size, SHA-256 metadata "
        "checked by HEAD) + card + manifest + alias; verify = re-download and re-hash every "
        "file. S3 is moto_server (a separate process) on loopback, through the minio client; "
        "best of the repeats is reported, all runs are listed.",
        "results": results,
        "machine": machine(minio=minio.__version__, moto=moto.__version__),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
