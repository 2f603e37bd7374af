"""The paper's evaluation protocol and its published numbers (arXiv 2504.11468, "Evaluation").

The paper evaluates with VLMEvalKit: no custom prompt (each benchmark's own prompt,
``vlaa.benchmarks.vlmevalkit``), the training system prompt, greedy
decoding, at most 800 new tokens and images capped at ``256*32*32`` pixels; the answer is the
text inside ``<answer>...</answer>``, else the raw text (``vlaa.benchmarks.scoring``).
Everything a generation loop needs to reproduce that lives here, in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vlaa.benchmarks.items import EvalItem, PromptStyle
from vlaa.prompts import SYSTEM_PROMPT

MAX_NEW_TOKENS = 800
# The paper's image-size cap, as it states it; Qwen2.5-VL's processor takes it as ``max_pixels``
# and resizes larger images down (keeping the aspect ratio) before they become visual tokens.
MAX_PIXELS = 256 * 32 * 32


class EvalProtocol(BaseModel):
    """Decoding and prompting settings of one evaluation run; defaults are the paper's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system_prompt: str = SYSTEM_PROMPT
    # What the report records: the name the config chose ("project", "vlaa-thinker", "custom")
    # and how the items' user text was built (the items carry it; see load_benchmark).
    system_prompt_choice: str = "project"
    prompt_style: PromptStyle = "vlmevalkit"
    do_sample: bool = False  # greedy
    max_new_tokens: int = Field(MAX_NEW_TOKENS, gt=0)
    max_pixels: int = Field(MAX_PIXELS, gt=0)

    def generation_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (transformers) under this protocol."""
        return {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}

    def processor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoProcessor.from_pretrained`` (the image-size cap)."""
        return {"max_pixels": self.max_pixels}

    def chat_messages(self, item: EvalItem) -> list[dict[str, Any]]:
        """System + user turn for ``processor.apply_chat_template``: images, then the prompt.

        The system prompt is passed explicitly because a real Qwen2.5-VL chat template would
        otherwise insert its own default one.
        """
        content: list[dict[str, Any]] = [{"type": "image", "image": path} for path in item.images]
        content.append({"type": "text", "text": item.prompt})
        return [
            {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]},
            {"role": "user", "content": content},
        ]


PAPER_PROTOCOL = EvalProtocol()

# The metric each benchmark's paper column reports (Open LMM Reasoning Leaderboard).
HEADLINE_METRICS: dict[str, str] = {
    "mathvista": "accuracy",  # testmini, overall accuracy
    "mathvision": "accuracy",  # full test set
    "mathverse": "accuracy",  # testmini, "Vision Only" problems
    "dynamath": "worst_case_accuracy",  # all 10 variants of a seed question right
    "wemath": "score_strict",  # testmini, "Score (Strict)"
    "logicvista": "accuracy",
}

# The paper's headline table, in percent as published, for charts next to our own runs.
PAPER_RESULTS_PERCENT: dict[str, dict[str, float]] = {
    "Qwen2.5-VL-3B": {
        "mathvista": 61.2,
        "mathvision": 21.9,
        "mathverse": 31.2,
        "dynamath": 13.2,
        "wemath": 22.9,
        "logicvista": 40.3,
        "average": 31.8,
    },
    "VLAA-Thinker-Qwen2.5VL-3B": {
        "mathvista": 61.0,
        "mathvision": 24.4,
        "mathverse": 36.4,
        "dynamath": 18.2,
        "wemath": 33.8,
        "logicvista": 38.5,
        "average": 35.4,
    },
    "Qwen2.5-VL-7B": {
        "mathvista": 68.1,
        "mathvision": 25.4,
        "mathverse": 41.1,
        "dynamath": 21.8,
        "wemath": 36.2,
        "logicvista": 47.9,
        "average": 40.1,
    },
    "VLAA-Thinker-Qwen2.5VL-7B": {
        "mathvista": 68.0,
        "mathvision": 26.4,
        "mathverse": 48.2,
        "dynamath": 22.4,
        "wemath": 41.5,
        "logicvista": 48.5,
        "average": 42.5,
    },
}
