"""Choosing which SFT samples to train on: highest perplexity, the aha subset, or random.

The paper trains SFT on the 25K / 10K / 5K samples of highest perplexity ("averaged over two
small base models") and on "aha-55K", the samples whose reasoning contains an aha keyword.

* Perplexity is teacher-forced on the response only: each sample goes through TRL's own
  vision-language collator (chat template, image processed as in training, prompt masked), so
  a scoring model sees exactly what the SFT trainer shows the model, truncation included.
  The per-sample score is the mean negative log-likelihood of the response tokens (the log
  perplexity); perplexity is its exponential.
* Several scoring models are combined by the **mean log-perplexity** (the log of the geometric
  mean of the perplexities; the default, closest to the paper's average) or by the **mean
  rank** (``mean_rank``: each model ranks the samples, the ranks are averaged; use it when the
  scoring models have different tokenizers, whose perplexities are not on one scale).
* Top-K keeps the K highest scores; equal scores are broken by record id (ascending).
* The aha subset is the records whose ``has_aha`` flag is set. The data pipeline
  (``vlaa/data/rules.py``, step 6) sends every aha record to the RL split, so the SFT split
  it writes has none: the aha subset is meant for a split that holds aha records (the RL split,
  or imported data), and an empty selection is an error, not a silent no-op.

The selection (ids, their perplexities under each scoring model, the request that produced it)
is written as JSON next to the training log; a run asked again with the same request on the
same split (a resumed run) reuses it instead of scoring again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from vlaa.errors import ConfigError
from vlaa.modeling.loading import inference_dtype, load_model, load_processor
from vlaa.records import RECORDS_FILE, Record
from vlaa.training.datasets import load_split, sft_dataset

SubsetStrategy = Literal["all", "perplexity", "aha", "random"]
Combine = Literal["mean_log_ppl", "mean_rank"]
SUBSET_STRATEGIES: tuple[str, ...] = ("all", "perplexity", "aha", "random")
COMBINE_METHODS: tuple[str, ...] = ("mean_log_ppl", "mean_rank")
SELECTION_FILE = "sft_subset.json"
_EXTRA_KEYS = ("split", "scoring_model_paths", "score", "min_selected_score")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ perplexity


def _response_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row summed NLL and token count of the labelled (response) tokens; logits end-aligned."""
    labels = labels[:, -logits.shape[1] :]
    # Position t predicts token t + 1.
    logits, targets = logits[:, :-1].float(), labels[:, 1:]
    mask = targets != -100
    nll = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), targets.clamp(min=0), reduction="none"
    )
    return (nll * mask).sum(dim=1), mask.sum(dim=1)


@torch.no_grad()
def response_log_perplexities(
    model: torch.nn.Module,
    processor: Any,
    split_dir: Path,
    batch_size: int = 8,
    max_length: int | None = None,
    desc: str = "perplexity",
) -> dict[str, float]:
    """Mean NLL of each record's response under ``model`` (log perplexity), by record id.

    Records whose response is cut off entirely by ``max_length`` get ``nan``.
    """
    records = load_split(split_dir)
    dataset = sft_dataset(split_dir)
    collator = DataCollatorForVisionLanguageModeling(
        processor, max_length=max_length, completion_only_loss=True
    )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores: dict[str, float] = {}
    with tqdm(total=len(records), desc=desc, unit="sample") as bar:
        for start in range(0, len(records), batch_size):
            rows = [dataset[i] for i in range(start, min(start + batch_size, len(records)))]
            batch = collator(rows)
            labels = batch.pop("labels")
            # Logits only from the first position that predicts a response token onwards.
            labelled = (labels != -100).any(dim=0).nonzero()
            keep = labels.shape[1] - int(labelled[0]) + 1 if len(labelled) else 1
            inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            logits = model(**inputs, logits_to_keep=keep).logits
            total, count = _response_nll(logits, labels.to(device))
            for offset, (nll, n) in enumerate(zip(total.tolist(), count.tolist(), strict=True)):
                scores[records[start + offset].id] = nll / n if n else math.nan
            bar.update(len(rows))
    model.train(was_training)
    return scores


def score_with_model(
    model_dir: Path, split_dir: Path, batch_size: int = 8, max_length: int | None = None
) -> dict[str, float]:
    """Log perplexities of a split's responses under the model folder ``model_dir``."""
    processor = load_processor(model_dir)
    model = load_model(model_dir, dtype=inference_dtype())
    try:
        return response_log_perplexities(
            model, processor, split_dir, batch_size, max_length, desc=f"perplexity {model_dir.name}"
        )
    finally:
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ selection


def _ranks_ascending(scores: Mapping[str, float]) -> dict[str, int]:
    """Rank 0 for the lowest score; ``nan`` lowest of all; ties by id."""
    order = sorted(scores, key=lambda i: (not math.isnan(scores[i]), _finite(scores[i]), i))
    return {record_id: rank for rank, record_id in enumerate(order)}


def _finite(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def combine_scores(
    per_model: Mapping[str, Mapping[str, float]], method: Combine
) -> dict[str, float]:
    """One score per record from several models' log perplexities; higher = more perplexing.

    ``mean_log_ppl``: the mean of the log perplexities. ``mean_rank``: the mean of each model's
    ascending rank (0 = lowest perplexity), so it too is higher for more perplexing samples.
    """
    if not per_model:
        raise ValueError("no scoring model")
    ids = set(next(iter(per_model.values())))
    if any(set(scores) != ids for scores in per_model.values()):
        raise ValueError("the scoring models scored different records")
    if method == "mean_log_ppl":
        return {i: sum(s[i] for s in per_model.values()) / len(per_model) for i in ids}
    if method == "mean_rank":
        ranks = [_ranks_ascending(scores) for scores in per_model.values()]
        return {i: sum(r[i] for r in ranks) / len(ranks) for i in ids}
    raise ValueError(f"unknown combination {method!r}; choose one of {', '.join(COMBINE_METHODS)}")


def top_k(scores: Mapping[str, float], k: int) -> list[str]:
    """The ``k`` ids of highest score, highest first; equal scores by id; ``nan`` last."""
    return sorted(scores, key=lambda i: (-_finite(scores[i]), i))[:k]


def aha_ids(records: Sequence[Record]) -> list[str]:
    """Ids of the records flagged ``has_aha``, in split order."""
    return [record.id for record in records if record.has_aha]


def random_ids(ids: Sequence[str], k: int, seed: int) -> list[str]:
    """``k`` ids drawn without replacement, the same for the same ids (in any order) and seed."""
    return random.Random(seed).sample(sorted(ids), k)


def _check_size(size: int, available: int, what: str) -> None:
    if size > available:
        raise ConfigError(
            f"sft: subset_size {size} is larger than the {available} {what}; "
            "lower subset_size or use a bigger split"
        )


def _check_request(
    split_dir: Path,
    strategy: str,
    size: int | None,
    scoring_models: Sequence[Path],
    records: int,
    aha: int,
) -> None:
    """Fail before any scoring on a request the split cannot satisfy."""
    if strategy not in SUBSET_STRATEGIES:
        raise ConfigError(f"sft: unknown subset_strategy {strategy!r}")
    if strategy in ("perplexity", "random") and size is None:
        raise ConfigError(f"sft: subset_strategy={strategy} needs subset_size")
    if strategy == "perplexity" and not scoring_models:
        raise ConfigError("sft: subset_strategy=perplexity needs at least one scoring model")
    if strategy == "aha" and not aha:
        raise ConfigError(
            f"sft: subset_strategy=aha found no record with has_aha in {split_dir}: the data "
            "pipeline sends aha samples to the RL split, so train on a split that has them "
            "(the RL split or imported data)"
        )
    if size is not None and strategy in ("perplexity", "random"):
        _check_size(size, records, "records of the split")
    if size is not None and strategy == "aha":
        _check_size(size, aha, "aha records of the split")


# ------------------------------------------------------------------------------ the step's entry


@dataclass
class SubsetSelection:
    """The chosen records of a split, in split order, and what the data card needs about them."""

    request: dict[str, Any]
    indices: list[int]
    selected: list[dict[str, Any]]
    split_records: int
    aha_records: int
    path: Path | None = None
    reused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.request["strategy"],
            "split_records": self.split_records,
            "aha_records_in_split": self.aha_records,
            "selected_count": len(self.selected),
            "indices": self.indices,
            "selected": self.selected,
            "request": self.request,
            **self.extra,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.request["strategy"],
            "size": len(self.selected),
            "split_records": self.split_records,
            "file": str(self.path) if self.path else None,
            "reused": self.reused,
        }


def _split_digest(split_dir: Path) -> str:
    return hashlib.sha256((split_dir / RECORDS_FILE).read_bytes()).hexdigest()


def _model_fingerprint(model_dir: Path) -> str:
    """A cheap identity of a model folder: its config and the names and sizes of its weights."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def select_subset(
    split_dir: Path,
    strategy: SubsetStrategy,
    size: int | None,
    *,
    scoring_models: Sequence[Path] = (),
    combine: Combine = "mean_log_ppl",
    seed: int = 42,
    batch_size: int = 8,
    max_length: int | None = None,
    output: Path | None = None,
) -> SubsetSelection:
    """Choose records of ``split_dir``; write the choice to ``output`` (JSON) when given.

    ``perplexity``: the ``size`` records of highest (combined) response perplexity under
    ``scoring_models``. ``aha``: the aha-flagged records (``size`` of them at random when
    ``size`` is set). ``random``: ``size`` records drawn with ``seed``. ``all``: every record.
    A ``size`` above what the split (or its aha records) holds raises ``ConfigError``; so does
    an empty aha subset. An ``output`` file written for the same request is reused.
    """
    records = load_split(split_dir)
    if len({record.id for record in records}) != len(records):
        raise ConfigError(f"sft: {split_dir} has duplicate record ids; a subset needs unique ids")
    aha = aha_ids(records)
    _check_request(split_dir, strategy, size, scoring_models, len(records), len(aha))
    # What makes a selection: content, not paths (KFP mounts inputs at new paths on a retry).
    request: dict[str, Any] = {
        "strategy": strategy,
        "subset_size": size,
        "seed": seed if strategy in ("random", "aha") else None,
        "scoring_models": [_model_fingerprint(Path(m)) for m in scoring_models]
        if strategy == "perplexity"
        else [],
        "combine": combine if strategy == "perplexity" else None,
        "max_length": max_length if strategy == "perplexity" else None,
        "split_sha256": _split_digest(split_dir),
    }
    previous = _read_json(output)
    if previous is not None and previous.get("request") == request:
        log.info("reusing the SFT subset in %s", output)
        return SubsetSelection(
            request=request,
            indices=previous["indices"],
            selected=previous["selected"],
            split_records=previous["split_records"],
            aha_records=previous["aha_records_in_split"],
            path=output,
            reused=True,
            extra={k: v for k, v in previous.items() if k in _EXTRA_KEYS},
        )
    per_model: dict[str, dict[str, float]] = {}
    combined: dict[str, float] = {}
    if strategy == "all":
        chosen = [record.id for record in records]
    elif strategy == "perplexity":
        assert size is not None
        for model_dir in scoring_models:
            per_model[str(model_dir)] = score_with_model(
                Path(model_dir), split_dir, batch_size, max_length
            )
        combined = combine_scores(per_model, combine)
        chosen = top_k(combined, size)
    elif strategy == "aha":
        chosen = aha if size is None else random_ids(aha, size, seed)
    else:
        assert size is not None
        chosen = random_ids([record.id for record in records], size, seed)

    selected = []
    for record_id in chosen:
        row: dict[str, Any] = {"id": record_id}
        if per_model:
            row["score"] = _json_float(combined[record_id])
            row["perplexity"] = {
                name: _json_float(math.exp(scores[record_id])) for name, scores in per_model.items()
            }
        selected.append(row)
    chosen_set = set(chosen)
    indices = [i for i, record in enumerate(records) if record.id in chosen_set]
    extra: dict[str, Any] = {"split": str(split_dir)}
    if per_model:
        extra["scoring_model_paths"] = list(per_model)
    if combined:
        extra["score"] = "mean log perplexity" if combine == "mean_log_ppl" else "mean rank"
        extra["min_selected_score"] = selected[-1]["score"] if selected else None
    selection = SubsetSelection(
        request=request,
        indices=indices,
        selected=selected,
        split_records=len(records),
        aha_records=len(aha),
        path=output,
        extra=extra,
    )
    if output is not None and int(os.environ.get("RANK", "0")) == 0:
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_suffix(".tmp")
        temporary.write_text(json.dumps(selection.to_json(), indent=2))
        temporary.replace(output)
    log.info("SFT subset: %s, %d of %d records", strategy, len(indices), len(records))
    return selection
