"""Does the pretrained tiny base see? Build ``tiny:S`` cold for several seeds and compare its
accuracy with the real scene against the same questions with an empty image, per question
family, next to chance.

Chance per family is the best a model can do from the question text alone, computed from the
generator's answer distributions (vlaa/data/synthetic.py) on 20,000 draws: for the digit
families the share of the most frequent answer; for the MCQ families one over the number of
shown options that the generator ever makes correct (a colour question has 4 possible
options, a shape question 3: "cylinder" never is, a size question 2: "medium" / "tiny" never
are). A model that only learnt answer priors scores about chance with and without the image.

Usage: ``python bench/tiny_base_sees.py [--seeds 0 1 2] [--scenes 100]``; writes
``bench/results/tiny_base_sees.json`` with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from machine_info import machine

from vlaa.data.synthetic import COLOURS, DISTRACTOR_SHAPE, SHAPES, SIZES, SyntheticConfig
from vlaa.data.synthetic import _make_sample as make_sample
from vlaa.modeling import tiny_base
from vlaa.modeling.tiny_pretrain import answer_check

RESULTS = Path(__file__).parent / "results" / "tiny_base_sees.json"
# Option values that can be the correct answer, per MCQ family.
CAN_BE_CORRECT = {"colour": set(COLOURS), "shape": set(SHAPES), "size": set(SIZES)}


def chance_by_family(draws: int = 20_000) -> dict[str, float]:
    """The best text-only accuracy per ``reward_type/family`` (see the module docstring)."""
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    mcq: dict[str, list[float]] = defaultdict(list)
    for index in range(draws):
        config = SyntheticConfig(seed=index % 7, num_samples=1)
        _scene, question = make_sample(config, 30_000_000 + index)
        name = f"{question.reward_type}/{question.family}"
        if question.reward_type == "mcq":
            values = re.findall(r"\b[A-D]\. (\w+)", question.text)
            possible = sum(value in CAN_BE_CORRECT[question.family] for value in values)
            assert DISTRACTOR_SHAPE not in CAN_BE_CORRECT["shape"] and possible >= 1
            mcq[name].append(1 / possible)
        else:
            answers[name][str(question.answer)] += 1
    chance = {name: max(c.values()) / sum(c.values()) for name, c in answers.items()}
    chance.update({name: sum(v) / len(v) for name, v in mcq.items()})
    return {name: round(value, 3) for name, value in sorted(chance.items())}


def one_seed(seed: int, scenes: int, cache: Path) -> dict[str, Any]:
    os.environ[tiny_base.CACHE_ENV] = str(cache)
    started = time.time()
    folder, summary = tiny_base.cached_tiny_base(seed)
    build_seconds = round(time.time() - started, 1)
    shown = answer_check(folder, num_scenes=scenes, seed=0)
    blind = answer_check(folder, num_scenes=scenes, seed=0, blind=True)
    return {
        "seed": seed,
        "build_seconds": build_seconds,
        "pretraining": {k: summary[k] for k in ("loss_first", "loss_last", "seconds")},
        "shown": {k: round(v, 3) for k, v in shown.items()},
        "blind": {k: round(v, 3) for k, v in blind.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenes", type=int, default=100)
    args = parser.parse_args()
    load_before = os.getloadavg()
    chance = chance_by_family()
    runs = []
    with tempfile.TemporaryDirectory(prefix="vlaa-bench-sees-") as scratch:
        for seed in args.seeds:  # a cold cache per seed: the build is timed
            runs.append(one_seed(seed, args.scenes, Path(scratch) / f"cache-{seed}"))
            print(json.dumps(runs[-1]), flush=True)
    result = {
        "benchmark": "tiny_base_sees",
        "eval": f"answer_check: the first {args.scenes} scenes of a seed-0 data build, greedy",
        "chance_text_only": chance,
        "runs": runs,
        "machine": machine(
            load_average_before=[round(x, 2) for x in load_before],
            load_average_after=[round(x, 2) for x in os.getloadavg()],
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"chance_text_only": chance}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
