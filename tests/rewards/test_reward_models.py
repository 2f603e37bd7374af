"""Reward-model scorers of the ``open`` reward: a local sequence-classification model (the tiny
one tests/fixtures builds), an HTTP reward model on loopback, and the spec that picks one."""

from __future__ import annotations

import base64
import io
import json
import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures.tiny_reward_model import make_tiny_reward_model
from PIL import Image

from vlaa import rewards
from vlaa.reward_models import (
    API_KEY_ENV,
    HTTPScorer,
    RewardModelError,
    SequenceClassificationScorer,
    build_scorer,
    encode_image,
)

QUESTIONS = ["What colour is the cube?", "What colour is the cube?", "How many objects?"]
ANSWERS = ["red", "a blue cube on the left", "3"]


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_reward_model(tmp_path_factory.mktemp("rm") / "model", seed=0)


# ----------------------------------------------------------------------------- local model


def test_tiny_reward_model_scores_deterministic_finite_floats(reward_model_dir: Path) -> None:
    assert (reward_model_dir / "config.json").is_file()
    first = SequenceClassificationScorer(reward_model_dir).score_batch(
        [None] * 3, QUESTIONS, ANSWERS
    )
    second = SequenceClassificationScorer(reward_model_dir).score_batch(
        [None] * 3, QUESTIONS, ANSWERS
    )
    assert len(first) == 3
    assert all(isinstance(v, float) and math.isfinite(v) for v in first)
    assert first == second
    assert len(set(first)) == 3  # the score depends on the text


def test_same_seed_same_model(tmp_path: Path, reward_model_dir: Path) -> None:
    again = make_tiny_reward_model(tmp_path / "again", seed=0)
    other = make_tiny_reward_model(tmp_path / "other", seed=1)
    scores = [
        SequenceClassificationScorer(d)(None, QUESTIONS[0], ANSWERS[0])
        for d in (reward_model_dir, again, other)
    ]
    assert scores[0] == scores[1]
    assert scores[0] != scores[2]


def test_batched_scores_match_single_calls(reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir, batch_size=2)
    image = Image.new("RGB", (8, 8), "red")
    batched = scorer.score_batch([image] * 3, QUESTIONS, ANSWERS)
    single = [scorer(image, q, a) for q, a in zip(QUESTIONS, ANSWERS, strict=True)]
    # Padding inside a batch must not move any score.
    assert batched == pytest.approx(single, abs=1e-5)
    assert scorer.score_batch([], [], []) == []
    with pytest.raises(ValueError, match="same length"):
        scorer.score_batch([None], QUESTIONS, ANSWERS)


def test_long_answers_are_truncated_not_refused(reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir, max_length=16)
    assert math.isfinite(scorer(None, "q", "blue " * 500))


def test_a_tokenizer_without_chat_template_gets_text_pairs(reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir)
    with_template = scorer(None, "q", "a")
    scorer.tokenizer.chat_template = None  # e.g. a BERT-style reward model
    without = scorer.score_batch([None, None], ["q", "q"], ["a", "a much longer answer"])
    assert all(math.isfinite(v) for v in without)
    assert without[0] != with_template  # a different input layout, a different score


def test_nothing_is_loaded_before_the_first_score(tmp_path: Path, reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir)
    assert not scorer.loaded and scorer.model is None
    scorer(None, "q", "a")
    assert scorer.loaded
    # A missing checkpoint fails at the first score, naming the directory.
    missing = SequenceClassificationScorer(tmp_path / "nope")
    with pytest.raises(RewardModelError, match="nope"):
        missing(None, "q", "a")


def test_model_visits_the_device_per_phase_and_returns_to_cpu(
    reward_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir, device="cuda:7")
    moves: list[str] = []
    scorer._load()
    original_to = scorer.model.to

    def recording_to(device: Any) -> Any:
        # Records where the model is sent and keeps it on the CPU this test runs on.
        moves.append(str(device))
        return original_to("cpu")

    monkeypatch.setattr(scorer.model, "to", recording_to)
    with scorer.scoring_phase():
        scorer.score_batch([None] * 3, QUESTIONS, ANSWERS)  # nested phases move nothing
        scorer(None, "q", "a")
        assert moves == ["cuda:7"]
    assert moves == ["cuda:7", "cpu"]  # to the device once per phase, back to CPU at its end
    scorer(None, "q", "a")  # a call outside a phase is a phase of its own
    assert moves == ["cuda:7", "cpu", "cuda:7", "cpu"]
    assert all(p.device.type == "cpu" for p in scorer.model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_model_goes_to_cuda_and_back(reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir)
    with scorer.scoring_phase():
        assert next(scorer.model.parameters()).device.type == "cuda"
        on_gpu = scorer(None, "q", "a")
    assert next(scorer.model.parameters()).device.type == "cpu"
    assert on_gpu == pytest.approx(
        SequenceClassificationScorer(reward_model_dir, device="cpu")(None, "q", "a"), abs=1e-3
    )


def test_open_reward_end_to_end_with_the_tiny_model(reward_model_dir: Path) -> None:
    scorer = SequenceClassificationScorer(reward_model_dir)
    value = rewards.score(
        "open", "<think>x</think><answer>blue</answer>", "red", scorer=scorer, beta=1.0
    )
    assert value is not None and 0.0 <= value < 1.0
    margin = scorer(None, "", "blue") - scorer(None, "", "red")
    assert value == pytest.approx(rewards.open_reward(margin, 0.0, 1.0))


# ----------------------------------------------------------------------------- HTTP


class RewardServer:
    """A reward model on loopback speaking the module's protocol; the score is len(answer)."""

    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.fail_first = fail_first
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                if len(server.requests) <= server.fail_first:
                    self._send(server.status, {"error": "model is warming up"})
                elif "items" in body:
                    self._send(200, {"scores": [len(i["answer"]) for i in body["items"]]})
                else:
                    self._send(200, {"score": len(body["answer"])})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/score"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RewardServer]]:
    servers: list[RewardServer] = []

    def start(**kwargs: Any) -> RewardServer:
        servers.append(RewardServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_http_scorer_speaks_the_protocol(
    serve: Callable[..., RewardServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sk-test")
    server = serve()
    scorer = HTTPScorer(server.url, backoff=0.0, batch_size=2)
    image = Image.new("RGB", (4, 4), "blue")
    assert scorer(image, "What colour?", "blue") == 4.0
    assert scorer.score_batch([image, None, None], QUESTIONS, ANSWERS) == [3.0, 23.0, 1.0]
    single, *batches = server.requests
    assert single["question"] == "What colour?" and single["answer"] == "blue"
    decoded = Image.open(io.BytesIO(base64.b64decode(single["image"])))
    assert decoded.format == "PNG" and decoded.size == (4, 4)
    assert [len(b["items"]) for b in batches] == [2, 1]  # batch_size items per request
    assert batches[0]["items"][1]["image"] is None
    assert all(h["Authorization"] == "Bearer sk-test" for h in server.headers)
    assert "sk-test" not in repr(scorer)


def test_http_scorer_sends_no_auth_header_without_a_key(
    serve: Callable[..., RewardServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    server = serve()
    HTTPScorer(server.url)(None, "q", "ab")
    assert "Authorization" not in server.headers[0]


def test_http_scorer_retries_server_errors(serve: Callable[..., RewardServer]) -> None:
    server = serve(fail_first=2)
    assert HTTPScorer(server.url, retries=2, backoff=0.0)(None, "q", "abc") == 3.0
    assert len(server.requests) == 3


def test_http_scorer_gives_up_with_a_clear_error(serve: Callable[..., RewardServer]) -> None:
    server = serve(fail_first=10**6)
    scorer = HTTPScorer(server.url, retries=2, backoff=0.0)
    with pytest.raises(RewardModelError, match=r"after 3 attempts.*HTTP 500"):
        scorer.score_batch([None], ["q"], ["a"])
    assert len(server.requests) == 3
    # A broken reward model is an error of the reward, not a zero reward.
    with pytest.raises(RewardModelError):
        rewards.score("open", "<answer>a</answer>", "b", scorer=scorer)


def test_http_scorer_does_not_retry_client_errors(serve: Callable[..., RewardServer]) -> None:
    server = serve(fail_first=10**6, status=401)
    with pytest.raises(RewardModelError, match="refused the request: HTTP 401"):
        HTTPScorer(server.url, retries=2, backoff=0.0)(None, "q", "a")
    assert len(server.requests) == 1


def test_http_scorer_retries_connection_errors() -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}/"
    closed.server_close()  # nothing listens there any more
    with pytest.raises(RewardModelError, match=r"after 2 attempts.*ConnectionError"):
        HTTPScorer(url, retries=1, backoff=0.0)(None, "q", "a")


@pytest.mark.parametrize(
    "payload",
    [{"scores": [1.0]}, {"scores": "high"}, {"scores": [1.0, True]}, {"nothing": 1}, [1, 2]],
)
def test_http_scorer_rejects_answers_off_protocol(
    payload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = HTTPScorer("http://127.0.0.1:9/")
    monkeypatch.setattr(scorer, "_post", lambda body: payload)
    with pytest.raises(RewardModelError):
        scorer.score_batch([None, None], ["q", "q"], ["a", "b"])


def test_encode_image_accepts_paths_bytes_and_dataset_dicts(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    Image.new("RGB", (3, 2), "red").save(path)
    raw = path.read_bytes()
    encoded = {
        encode_image(path),
        encode_image(str(path)),
        encode_image(raw),
        encode_image({"bytes": raw, "path": None}),
    }
    assert len(encoded) == 1
    assert encode_image(None) is None
    with pytest.raises(TypeError, match="int"):
        encode_image(3)


# ----------------------------------------------------------------------------- build_scorer


def test_build_scorer_dispatch(reward_model_dir: Path) -> None:
    assert build_scorer(None) is None
    assert build_scorer("") is None
    assert build_scorer("  ") is None
    http = build_scorer("http://reward-model.svc:8000/score")
    assert isinstance(http, HTTPScorer) and http.url == "http://reward-model.svc:8000/score"
    assert isinstance(build_scorer("https://rm.example/score"), HTTPScorer)
    local = build_scorer(str(reward_model_dir))
    assert isinstance(local, SequenceClassificationScorer)
    assert not local.loaded  # building a scorer loads nothing


def test_build_scorer_names_a_bad_spec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'/no/such/reward-model'.*URL.*directory"):
        build_scorer("/no/such/reward-model")
    with pytest.raises(ValueError, match="ftp://x"):
        build_scorer("ftp://x")
    with pytest.raises(ValueError, match=r"config\.json"):
        build_scorer(str(tmp_path))
