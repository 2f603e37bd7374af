"""Reward models S(image, question, answer) -> float for the ``open`` reward type.

The paper ("GRPO with the mixed reward"): an ``open`` sample's answer y_hat and its reference y
are both scored by a reward model, R = 1 - exp(-(S(y_hat) - S(y)) * beta) if S(y_hat) > S(y)
else 0 (``vlaa.rewards.open_reward``), and the reward model is offloaded to CPU between scoring
phases. Every scorer here is an ``vlaa.rewards.OpenScorer`` (``scorer(image, question,
answer) -> float``) and also has ``score_batch(images, questions, answers) -> list[float]``,
which the GRPO reward router uses to score a whole step in one call.

Two kinds, picked by :func:`build_scorer` from one string (a run parameter):

- a local directory: :class:`SequenceClassificationScorer`, any model that
  ``AutoModelForSequenceClassification`` loads with ``num_labels=1`` (its logit is the score);
- an ``http://`` / ``https://`` URL: :class:`HTTPScorer`, a reward model served elsewhere.

HTTP protocol (JSON over ``POST`` to the URL; both forms on the same URL)::

    single   request  {"question": str, "answer": str, "image": str | null}
             response {"score": float}
    batched  request  {"items": [{"question": ..., "answer": ..., "image": ...}, ...]}
             response {"scores": [float, ...]}   # same length and order as "items"

``image`` is the base64 (standard alphabet, padded) encoding of a PNG file, or ``null`` when the
sample has no image. A 5xx or 429 answer or a connection failure is retried; any other non-2xx
answer, or a body that does not follow the protocol, is an error. If the environment variable
``VLAA_REWARD_MODEL_API_KEY`` is set, every request carries ``Authorization: Bearer <key>``;
the key is never a parameter, so it cannot leak into pipeline specs, logs or model cards.

A broken reward model raises :class:`RewardModelError`; it is never turned into a zero reward
(``vlaa.rewards.score`` lets scorer errors propagate).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlaa.rewards import OpenScorer

if TYPE_CHECKING:  # torch and transformers are imported lazily: HTTP scoring needs neither
    import torch

API_KEY_ENV = "VLAA_REWARD_MODEL_API_KEY"


class RewardModelError(RuntimeError):
    """The reward model could not be loaded or did not answer with valid scores."""


# ----------------------------------------------------------------------------- local models


class SequenceClassificationScorer:
    """Scores with a local ``AutoModelForSequenceClassification`` checkpoint (``num_labels=1``).

    The model sees text only: the question as the user turn and the answer as the assistant
    turn, through the tokenizer's chat template (or as a text pair when it has none). The image
    is accepted for the ``OpenScorer`` protocol and ignored; image-aware reward models with a
    processor are out of scope here.

    Nothing is loaded until the first score. Each scoring phase moves the model to ``device``
    (CUDA when available, else CPU) and back to CPU at its end, so the reward model holds no
    accelerator memory while the policy trains.
    """

    def __init__(
        self,
        model_dir: str | Path,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 1024,
        dtype: str | torch.dtype = "auto",
    ) -> None:
        if batch_size < 1 or max_length < 1:
            raise ValueError("batch_size and max_length must be positive")
        self.model_dir = Path(model_dir)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.model: Any = None
        self.tokenizer: Any = None
        self._lock = threading.RLock()
        self._phase_depth = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.model_dir)!r})"

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def _target_device(self) -> str:
        if self.device is not None:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            model = AutoModelForSequenceClassification.from_pretrained(
                self.model_dir, dtype=self.dtype
            )
        except (OSError, ValueError) as error:
            raise RewardModelError(
                f"cannot load a sequence-classification reward model from {self.model_dir}: {error}"
            ) from error
        if model.config.num_labels != 1:
            raise RewardModelError(
                f"reward model {self.model_dir} has num_labels={model.config.num_labels}; "
                "a scalar reward model needs num_labels=1"
            )
        if tokenizer.pad_token is None:
            # Batches need padding; the model reads the score at the last non-pad token.
            tokenizer.pad_token = tokenizer.eos_token
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        # Right padding keeps every token's position independent of the batch; left
        # truncation keeps the end of the answer, where the score is read.
        tokenizer.padding_side = "right"
        tokenizer.truncation_side = "left"
        self.tokenizer = tokenizer
        self.model = model.eval()

    @contextlib.contextmanager
    def scoring_phase(self) -> Iterator[None]:
        """Load if needed and hold the model on the accelerator; back to CPU when it ends.

        Phases nest: only the outermost one moves the model.
        """
        with self._lock:
            if self.model is None:
                self._load()
            if self._phase_depth == 0:
                self.model.to(self._target_device())
            self._phase_depth += 1
            try:
                yield
            finally:
                self._phase_depth -= 1
                if self._phase_depth == 0:
                    self._offload()

    def _offload(self) -> None:
        import torch

        self.model.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # give the memory back to the policy's allocator

    def _texts(self, questions: Sequence[str], answers: Sequence[str]) -> dict[str, Any]:
        if self.tokenizer.chat_template:
            texts = [
                self.tokenizer.apply_chat_template(
                    [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": answer},
                    ],
                    tokenize=False,
                )
                for question, answer in zip(questions, answers, strict=True)
            ]
            # The template already holds every special token the model expects.
            return dict(text=texts, add_special_tokens=False)
        return dict(text=list(questions), text_pair=list(answers))

    def score_batch(
        self, images: Sequence[Any], questions: Sequence[str], answers: Sequence[str]
    ) -> list[float]:
        """One score per (question, answer); images are ignored (see the class docstring)."""
        import torch

        if not len(images) == len(questions) == len(answers):
            raise ValueError("images, questions and answers must have the same length")
        if not answers:
            return []
        with self.scoring_phase():
            device = next(self.model.parameters()).device
            # Similar lengths share a batch, so little compute goes to padding.
            order = sorted(range(len(answers)), key=lambda i: len(questions[i]) + len(answers[i]))
            scores = [math.nan] * len(answers)
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    encoded = self.tokenizer(
                        **self._texts([questions[i] for i in chunk], [answers[i] for i in chunk]),
                        padding=True,
                        truncation=True,
                        max_length=self.max_length,
                        return_tensors="pt",
                    ).to(device)
                    logits = self.model(**encoded).logits[:, 0].float().cpu().tolist()
                    for index, value in zip(chunk, logits, strict=True):
                        scores[index] = value
        return scores

    def __call__(self, image: Any, question: str, answer: str) -> float:
        return self.score_batch([image], [question], [answer])[0]


# ----------------------------------------------------------------------------- HTTP


def encode_image(image: Any) -> str | None:
    """Base64 PNG of a PIL image, an image file path, encoded image bytes or a HF image dict."""
    if image is None:
        return None
    from PIL import Image

    if isinstance(image, dict):  # datasets' undecoded Image(): {"bytes": ..., "path": ...}
        image = image.get("bytes") or image.get("path")
        if image is None:
            return None
    if isinstance(image, str | Path):
        image = Image.open(image)
    elif isinstance(image, bytes | bytearray):
        image = Image.open(io.BytesIO(image))
    if not isinstance(image, Image.Image):
        raise TypeError(f"cannot send an image of type {type(image).__name__} to a reward model")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class HTTPScorer:
    """Scores through a reward model served over HTTP (protocol in the module docstring).

    Connection errors, timeouts and 5xx / 429 answers are retried ``retries`` times with
    exponential backoff (``backoff``, ``2 * backoff``, ...); then :class:`RewardModelError`.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        batch_size: int = 64,
    ) -> None:
        import requests

        if retries < 0 or backoff < 0 or batch_size < 1:
            raise ValueError("retries and backoff must be >= 0 and batch_size >= 1")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"
        api_key = os.environ.get(API_KEY_ENV)
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:  # never shows headers: they may hold the API key
        return f"{type(self).__name__}({self.url!r})"

    def _post(self, payload: dict[str, Any]) -> Any:
        import requests

        body = json.dumps(payload)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._session.post(self.url, data=body, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if not response.ok:
                raise RewardModelError(
                    f"reward model at {self.url} refused the request: "
                    f"HTTP {response.status_code}: {response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError as error:
                raise RewardModelError(
                    f"reward model at {self.url} answered with invalid JSON: {response.text[:200]}"
                ) from error
        raise RewardModelError(
            f"reward model at {self.url} failed after {self.retries + 1} attempts: {problem}"
        )

    def _score(self, data: Any, key: str) -> Any:
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            raise RewardModelError(f"reward model at {self.url} answered without {key!r}: {data}")
        return value

    def __call__(self, image: Any, question: str, answer: str) -> float:
        payload = {"question": question, "answer": answer, "image": encode_image(image)}
        return _as_float(self._score(self._post(payload), "score"), self.url)

    def score_batch(
        self, images: Sequence[Any], questions: Sequence[str], answers: Sequence[str]
    ) -> list[float]:
        """Scores in order, ``batch_size`` items per request."""
        if not len(images) == len(questions) == len(answers):
            raise ValueError("images, questions and answers must have the same length")
        items = [
            {"question": question, "answer": answer, "image": encode_image(image)}
            for image, question, answer in zip(images, questions, answers, strict=True)
        ]
        scores: list[float] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            values = self._score(self._post({"items": chunk}), "scores")
            if not isinstance(values, list) or len(values) != len(chunk):
                raise RewardModelError(
                    f"reward model at {self.url} returned {values!r} for {len(chunk)} items"
                )
            scores.extend(_as_float(value, self.url) for value in values)
        return scores


def _as_float(value: Any, url: str) -> float:
    # bool is an int subclass; a true/false "score" is a protocol error, not 1.0 / 0.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RewardModelError(f"reward model at {url} returned a non-numeric score {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- dispatch


def build_scorer(spec: str | None) -> OpenScorer | None:
    """The scorer a run parameter names: ``None``/``""`` -> none, a URL, or a model directory."""
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return HTTPScorer(spec)
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(
                f"reward model directory {spec!r} has no config.json; "
                "expected a transformers sequence-classification checkpoint"
            )
        return SequenceClassificationScorer(path)
    raise ValueError(
        f"reward model {spec!r} is neither an http(s):// URL nor an existing directory"
    )
