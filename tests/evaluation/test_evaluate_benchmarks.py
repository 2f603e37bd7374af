"""The evaluate step on the paper's benchmarks: config, scoring on the tiny model, reports.

Benchmark copies are written in their published layouts by the fixture helpers of
``test_benchmarks.py`` (imported, not copied).
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from fixtures import benchmark_files as files
from PIL import Image
from pydantic import ValidationError

from vlaa.benchmarks import MAX_PIXELS, BenchmarkDataError
from vlaa.evaluation import generation
from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.evaluation.evaluate import benchmark_metrics, evaluate_model
from vlaa.evaluation.generation import GenerationError, GenerationRequest
from vlaa.evaluation.render import (
    PAPER_ROWS,
    chart_png,
    render_html,
    render_markdown,
    score_table,
    write_reports,
)
from vlaa.evaluation.report import BenchmarkResult, EvalReport
from vlaa.modeling.loading import ModelLoadError
from vlaa.parameters import merge, validate_parameters
from vlaa.presets import preset
from vlaa.stages import stage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def benchmark_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """MathVista (Parquet, embedded images), DynaMath (10 variant files), WeMath (JSON + PNGs)."""
    monkeypatch.setenv("VLAA_BENCHMARK_CACHE", str(tmp_path / "image-cache"))
    root = tmp_path / "benchmarks"
    files._write_parquet(root / "MathVista" / files.MATHVISTA_PARQUET, files._mathvista_rows())
    wemath = root / "We-Math"
    for record in files._wemath_records():
        files._write_png(wemath / record["image_path"])
    files._write_json(wemath / "testmini.json", files._wemath_records())
    return {
        "mathvista": str(root / "MathVista"),
        "dynamath": f"file://{files._dynamath_root(root)}",
        "wemath": str(wemath),
    }


class FakeMetrics:
    """Stands in for KFP's ``Output[Metrics]``."""

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log_metric(self, key: str, value: float) -> None:
        self.logged[key] = value


def _artifact(path: Path) -> SimpleNamespace:
    return SimpleNamespace(path=str(path), uri=str(path))


def _png_from_data_uri(text: str) -> bytes:
    match = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert match, "no inlined PNG"
    return base64.b64decode(match.group(1))


# ----------------------------------------------------------------------------- config


def test_config_defaults_are_the_papers_protocol() -> None:
    config = EvaluateStepConfig()
    assert config.max_new_tokens == 800
    assert config.max_pixels == MAX_PIXELS == 256 * 32 * 32
    assert config.generation == "auto"
    assert config.benchmarks == {} and config.benchmark_limit is None
    assert config.paper_reference is None
    assert config.protocol().generation_kwargs() == {"max_new_tokens": 800, "do_sample": False}
    assert config.protocol().processor_kwargs() == {"max_pixels": MAX_PIXELS}


def test_local_cpu_preset_keeps_its_short_budget() -> None:
    params = validate_parameters(preset("local-cpu"))
    assert EvaluateStepConfig.model_validate(params.evaluate).max_new_tokens == 64
    raw = merge(preset("local-cpu"), {"evaluate": {"benchmarks": {"wemath": "/data/We-Math"}}})
    config = EvaluateStepConfig.model_validate(validate_parameters(raw).evaluate)
    assert config.max_new_tokens == 64 and config.benchmarks == {"wemath": "/data/We-Math"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"benchmarks": {"mmmu": "/data"}}, "unknown benchmark"),
        ({"benchmarks": {"wemath": " "}}, "empty path"),
        ({"benchmark_limit": 0}, "greater than 0"),
        ({"generation": "tensorrt"}, "'auto', 'vllm' or 'transformers'"),
        ({"paper_reference": "13b"}, "'3b' or '7b'"),
        ({"max_pixels": 10}, "greater than or equal to 784"),
        ({"max_new_token": 8}, "Extra inputs"),
    ],
)
def test_config_rejects_bad_values(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvaluateStepConfig.model_validate(fields)


def test_run_parameters_name_the_bad_evaluate_field() -> None:
    raw = merge(preset("local-cpu"), {"evaluate": {"benchmarks": {"mmmu": "/x"}}})
    with pytest.raises(Exception, match=r"evaluate\.benchmarks: Value error, unknown benchmark"):
        validate_parameters(raw)


# ----------------------------------------------------------------------------- bad input


def test_missing_benchmark_folder_fails_before_the_model_loads(
    tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = EvaluateStepConfig(benchmarks={"logicvista": str(tmp_path / "nowhere")})
    # The model folder does not exist either: the benchmark is checked first.
    with pytest.raises(BenchmarkDataError, match=r"logicvista: benchmark folder .* does not"):
        evaluate_model(tmp_path / "no-model", tiny_dataset["eval"], config)


def test_broken_benchmark_file_is_a_one_line_stage_error(
    tiny_dataset: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "LogicVista" / "data"
    root.mkdir(parents=True)
    (root / "dataset.json").write_text("{not json", encoding="utf-8")
    config = EvaluateStepConfig(benchmarks={"logicvista": str(root.parent)})
    with pytest.raises(SystemExit) as exit_info, stage("evaluate-test"):
        evaluate_model(tmp_path / "no-model", tiny_dataset["eval"], config)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("[vlaa] stage evaluate-test failed: logicvista: ")
    assert "dataset.json: cannot read" in error
    assert "Traceback" not in error and len(error.splitlines()) == 1


def test_unreachable_s3_benchmark_copy_is_a_clear_error(
    tiny_dataset: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLAA_S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("VLAA_S3_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("VLAA_BENCHMARK_CACHE", str(tmp_path / "cache"))
    config = EvaluateStepConfig(benchmarks={"wemath": "s3://bucket/we-math"})
    with pytest.raises(BenchmarkDataError, match="cannot copy the benchmark from S3: cannot reach"):
        evaluate_model(tmp_path / "no-model", tiny_dataset["eval"], config)


def test_model_folder_without_weights_is_a_model_load_error(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    benchmark_copies: dict[str, str],
    tmp_path: Path,
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    config = EvaluateStepConfig(benchmarks=benchmark_copies, benchmark_limit=2)
    with pytest.raises(ModelLoadError, match=r"missing: weights"):
        evaluate_model(broken, tiny_dataset["eval"], config)


# ----------------------------------------------------------------------------- the step


def test_step_scores_benchmarks_and_writes_every_report(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    benchmark_copies: dict[str, str],
    tmp_path: Path,
) -> None:
    from vlaa.components.evaluate.runtime import run

    base_path = tmp_path / "base.json"
    base_path.write_text(
        json.dumps(
            {
                "label": "base",
                "metrics": {"accuracy": 0.1},
                "benchmarks": {"mathvista": {"headline": 0.5}, "wemath": {"headline": 0.25}},
            }
        )
    )
    config = {
        "max_new_tokens": 8,
        "max_samples": 4,
        "batch_size": 4,
        "generation": "transformers",
        "benchmarks": benchmark_copies,
        "benchmark_limit": 3,
        "paper_reference": "3b",
    }
    metrics = FakeMetrics()
    out = tmp_path / "out"
    run(
        {
            "model": _artifact(tiny_model_dir),
            "eval_split": _artifact(tiny_dataset["eval"]),
            "config": config,
            "label": "trained",
            "metrics": metrics,
            "report": _artifact(out / "report.json"),
            "report_markdown": _artifact(out / "report.md"),
            "report_html": _artifact(out / "report.html"),
            "base_report": _artifact(base_path),
            "run_id": "",
        }
    )

    logged = metrics.logged
    for name in ("mathvista", "dynamath", "wemath"):
        for key in (f"accuracy_{name}", f"score_{name}"):
            assert 0.0 <= logged[key] <= 1.0, key
    assert 0.0 <= logged["benchmark_average"] <= 1.0
    assert logged["benchmark_average"] == pytest.approx(
        sum(logged[f"score_{n}"] for n in ("mathvista", "dynamath", "wemath")) / 3, abs=1e-4
    )
    assert logged["num_samples"] == 4 and 0.0 <= logged["accuracy"] <= 1.0  # synthetic split

    report = json.loads((out / "report.json").read_text())
    assert report["label"] == "trained"
    assert report["protocol"]["backend"] == "transformers"
    assert report["protocol"]["max_pixels"] == MAX_PIXELS
    assert len(report["samples"]) == 4
    assert list(report["benchmarks"]) == ["mathvista", "dynamath", "wemath"]
    for result in report["benchmarks"].values():
        assert result["n"] == 3 and len(result["samples"]) == 3
        assert {"accuracy", "headline", "headline_metric"} <= result.keys()
        assert all(isinstance(row["completion"], str) for row in result["samples"])
    assert report["benchmarks"]["dynamath"]["headline_metric"] == "worst_case_accuracy"
    assert report["benchmarks"]["wemath"]["headline_metric"] == "score_strict"

    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "| MathVista (accuracy) |" in markdown and "paper: Qwen2.5-VL-3B" in markdown
    assert "base model (base)" in markdown
    assert "Only the first 3 items" in markdown
    for text in (markdown, html):
        png = _png_from_data_uri(text)
        assert png.startswith(PNG_MAGIC)
        with Image.open(io.BytesIO(png)) as image:
            image.verify()


def test_synthetic_only_run_keeps_its_metrics(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    report = evaluate_model(
        tiny_model_dir,
        tiny_dataset["eval"],
        EvaluateStepConfig(max_new_tokens=8, max_samples=4, generation="transformers"),
    )
    assert report.benchmarks == {}
    assert not any(key.startswith(("score_", "benchmark_")) for key in report.metrics)
    report.label = "base"
    chart = write_reports(report, tmp_path / "r.md", tmp_path / "r.html", paper_reference="7b")
    assert chart.startswith(PNG_MAGIC)
    assert "paper:" not in (tmp_path / "r.md").read_text()  # no benchmark: no paper column


def test_logicvista_release_with_its_empty_record_is_evaluated(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    # The official layout holds a record with an empty question and answer (v1_382): the run
    # completes, the item is generated for, scored as a miss and counted.
    root = files.logicvista_release(tmp_path / "LogicVista")
    config = EvaluateStepConfig(
        max_new_tokens=8,
        max_samples=2,
        generation="transformers",
        benchmarks={"logicvista": str(root)},
    )
    report = evaluate_model(tiny_model_dir, tiny_dataset["eval"], config)

    result = report.benchmarks["logicvista"]
    assert (result.n, result.extra("empty_items")) == (3, 1)
    rows = {row["id"]: row for row in result.samples}
    assert rows["v1_382"]["empty_fields"] == ["question", "answer"]
    assert rows["v1_382"]["correct"] is False
    assert rows["v1_0"]["empty_fields"] == []
    assert result.accuracy == pytest.approx(sum(r["correct"] for r in rows.values()) / 3)
    assert (
        EvalReport.model_validate_json(report.model_dump_json())
        .benchmarks["logicvista"]
        .empty_items
        == 1
    )


# ----------------------------------------------------------------------------- report


def _hand_made_report(label: str, scores: dict[str, float], accuracy: float) -> dict[str, Any]:
    """The JSON of a report (``EvalReport.model_validate`` types it)."""
    headline = {"dynamath": "worst_case_accuracy", "wemath": "score_strict"}
    return {
        "label": label,
        "metrics": {"accuracy": accuracy, "benchmark_average": sum(scores.values()) / len(scores)},
        "benchmarks": {
            name: {
                "n": 10,
                "accuracy": value,
                "headline_metric": headline.get(name, "accuracy"),
                "headline": value,
            }
            for name, value in scores.items()
        },
        "protocol": {"max_new_tokens": 800, "max_pixels": MAX_PIXELS, "backend": "vllm"},
    }


def test_score_table_in_percent_with_base_and_paper_rows() -> None:
    trained = EvalReport.model_validate(
        _hand_made_report("trained", {"wemath": 0.3, "mathvista": 0.625}, 0.18)
    )
    base = EvalReport.model_validate(_hand_made_report("base", {"mathvista": 0.5}, 0.0))
    # (base lacks WeMath)

    table = score_table(trained, base, paper_reference="3b")

    assert table.groups == ["eval split", "mathvista", "wemath", "average"]  # registry order
    assert table.columns == [
        "this model (trained)",
        "base model (base)",
        "paper: Qwen2.5-VL-3B",
        "paper: VLAA-Thinker-Qwen2.5VL-3B",
    ]
    assert table.value("this model (trained)", "mathvista") == 62.5
    assert table.value("this model (trained)", "eval split") == 18.0
    assert table.value("this model (trained)", "average") == pytest.approx(46.2, abs=0.1)
    assert table.value("base model (base)", "wemath") is None
    assert table.value("base model (base)", "average") is None  # not over the same benchmarks
    # The paper's numbers are already percent; its average is over this run's benchmarks.
    assert table.value("paper: Qwen2.5-VL-3B", "mathvista") == 61.2
    assert table.value("paper: Qwen2.5-VL-3B", "wemath") == 22.9
    assert table.value("paper: Qwen2.5-VL-3B", "average") == pytest.approx((61.2 + 22.9) / 2, 0.01)
    assert table.value("paper: VLAA-Thinker-Qwen2.5VL-3B", "eval split") is None
    assert table.labels["wemath"] == "WeMath (strict score)"

    seven = score_table(trained, None, paper_reference="7b")
    assert seven.columns == ["this model (trained)", *(f"paper: {r}" for r in PAPER_ROWS["7b"])]
    assert seven.value("paper: Qwen2.5-VL-7B", "mathvista") == 68.1


def test_markdown_and_html_reports_from_hand_made_numbers() -> None:
    raw = _hand_made_report("trained", {"mathvista": 0.625, "dynamath": 0.2}, 0.18)
    raw["benchmarks"]["dynamath"].update(
        average_accuracy=0.4, worst_case_accuracy=0.2, seed_questions=5
    )
    trained = EvalReport.model_validate(raw)
    base = EvalReport.model_validate(
        _hand_made_report("base", {"mathvista": 0.5, "dynamath": 0.1}, 0.0)
    )
    chart = chart_png(score_table(trained, base, "3b"))
    with Image.open(io.BytesIO(chart)) as image:
        assert image.format == "PNG" and image.size[0] >= 600

    markdown = render_markdown(trained, base, "3b", chart)
    assert "| MathVista (accuracy) | 62.5 | 50.0 | 61.2 | 61.0 |" in markdown
    assert "| DynaMath (worst case) | 20.0 | 10.0 | 13.2 | 18.2 |" in markdown
    assert "worst_case_accuracy 20.0" in markdown and "seed_questions 5" in markdown
    assert "Generation backend: vllm" in markdown
    assert _png_from_data_uri(markdown) == chart

    html = render_html(trained, base, "3b", chart)
    assert html.startswith("<!DOCTYPE html>") and "<td>62.5</td>" in html
    assert _png_from_data_uri(html) == chart
    assert render_markdown(trained).count("paper:") == 0


def test_benchmark_metrics_flatten_headlines_and_average() -> None:
    metrics = benchmark_metrics(
        {
            "dynamath": BenchmarkResult(accuracy=0.5, headline=0.25),
            "wemath": BenchmarkResult(accuracy=0.4, headline=0.125),
        }
    )
    assert metrics == {
        "accuracy_dynamath": 0.5,
        "score_dynamath": 0.25,
        "accuracy_wemath": 0.4,
        "score_wemath": 0.125,
        "benchmark_average": 0.1875,
    }
    assert benchmark_metrics({}) == {}


# ----------------------------------------------------------------------------- backends


def test_auto_picks_transformers_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert generation.resolve_backend("auto") == "transformers"
    assert generation.resolve_backend("transformers") == "transformers"
    with pytest.raises(GenerationError, match="needs a CUDA GPU and the vllm package"):
        generation.resolve_backend("vllm")


def test_vllm_backend_gets_the_papers_settings(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM cannot run here: a stand-in module records what the backend asks of it."""
    calls: dict[str, Any] = {}

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            calls["llm"] = kwargs

        def generate(self, prompts: list[dict[str, Any]], sampling: Any) -> list[Any]:
            calls["prompts"] = prompts
            output = SimpleNamespace(text="<think>x</think><answer>B</answer>")
            return [SimpleNamespace(outputs=[output]) for _ in prompts]

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            calls["sampling"] = kwargs

    monkeypatch.setitem(
        sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)
    )
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "red").save(image)
    request = GenerationRequest(
        messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}],
        images=[image, image],
        label="fixture item 1",
    )

    generator = generation.make_generator(
        "auto",
        tiny_model_dir,
        max_new_tokens=800,
        max_pixels=MAX_PIXELS,
        batch_size=4,
        max_images=2,
    )

    assert generator.backend == "vllm"
    assert calls["llm"]["model"] == str(tiny_model_dir)
    assert calls["llm"]["limit_mm_per_prompt"] == {"image": 2}
    assert calls["llm"]["mm_processor_kwargs"] == {"max_pixels": MAX_PIXELS}
    assert calls["sampling"] == {"temperature": 0.0, "max_tokens": 800}
    assert generator.generate([request]) == ["<think>x</think><answer>B</answer>"]
    (prompt,) = calls["prompts"]
    assert prompt["prompt"].endswith("<|im_start|>assistant\n")
    assert len(prompt["multi_modal_data"]["image"]) == 2


def test_unreadable_image_names_the_item(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    request = GenerationRequest(messages=[], images=[broken], label="wemath item 3steps_1:1")
    with pytest.raises(GenerationError, match=r"wemath item 3steps_1:1: cannot read image"):
        generation.open_images(request)


def test_max_pixels_reaches_the_image_processor(tiny_model_dir: Path) -> None:
    processor = generation.load_eval_processor(tiny_model_dir, 256 * 32 * 32)
    grid = processor.image_processor(images=[Image.new("RGB", (1000, 1000))])["image_grid_thw"]
    assert int(grid[0][1]) * int(grid[0][2]) * 14 * 14 <= 256 * 32 * 32
    assert int(grid[0][1]) > 8  # above the tiny model's own 112x112 cap
    assert processor.tokenizer.padding_side == "left"


# ----------------------------------------------------------------------------- pipeline


def test_trained_evaluation_gets_the_base_report(tmp_path: Path) -> None:
    from vlaa.pipelines.compile import compile_pipeline

    path = compile_pipeline("vlaa-thinker", tmp_path / "p.yaml")
    spec = next(yaml.safe_load_all(path.read_text()))
    component = spec["components"]["comp-evaluate"]
    assert component["inputDefinitions"]["artifacts"]["base_report"]["isOptional"] is True
    outputs = component["outputDefinitions"]["artifacts"]
    assert outputs["report_markdown"]["artifactType"]["schemaTitle"] == "system.Markdown"
    assert outputs["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    trained = [
        task
        for dag in dags
        for task in dag["tasks"].values()
        if task["componentRef"]["name"].startswith("comp-evaluate")
        and "base_report" in task.get("inputs", {}).get("artifacts", {})
    ]
    assert len(trained) == 2  # one per arm
    for task in trained:
        source = task["inputs"]["artifacts"]["base_report"]
        assert "report" in json.dumps(source)
