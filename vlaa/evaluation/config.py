"""The evaluate step's config (torch-free: ``vlaa.parameters`` and the CLI import it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlaa.benchmarks import BENCHMARKS, MAX_PIXELS, EvalProtocol, PromptStyle
from vlaa.prompts import NAMED_SYSTEM_PROMPTS, system_prompt_text

GenerationChoice = Literal["auto", "vllm", "transformers"]
PaperReference = Literal["3b", "7b"]  # the paper's base sizes (render.PAPER_ROWS)


class EvaluateStepConfig(BaseModel):
    """The paper's protocol: each benchmark's VLMEvalKit prompt, the training system prompt,
    greedy decoding, at most 800 new tokens, images capped at 256*32*32 pixels; benchmarks are
    opt-in (name -> local copy). The synthetic eval split always keeps the training prompts."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(800, gt=0)
    batch_size: int = Field(16, gt=0, description="prompts per transformers generate call")
    max_samples: int | None = Field(None, gt=0, description="evaluate only the first N records")
    max_pixels: int = Field(
        MAX_PIXELS, ge=28 * 28, description="image-size cap given to the processor"
    )
    generation: GenerationChoice = Field(
        "auto", description="auto: vLLM on a GPU with vllm installed, else transformers"
    )
    benchmarks: dict[str, str] = Field(
        default_factory=dict,
        description="benchmark name -> local folder or file:// URI of its published copy",
    )
    benchmark_limit: int | None = Field(
        None, gt=0, description="score only the first N items of each benchmark (smoke runs)"
    )
    prompt_style: PromptStyle = Field(
        "vlmevalkit",
        description="benchmark user text: 'vlmevalkit' (each dataset's own prompt, the paper's) "
        "or 'training' (the question plus the training task instruction)",
    )
    system_prompt: str = Field(
        "project",
        min_length=1,
        description="benchmark system prompt: 'project', 'vlaa-thinker' (the released "
        "checkpoints' own) or the text of a custom one",
    )
    paper_reference: PaperReference | None = Field(
        None, description="'3b' or '7b': the paper's rows of that base size in the report"
    )

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(BENCHMARKS))
        if unknown:
            raise ValueError(
                f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
            )
        empty = sorted(name for name, path in value.items() if not str(path).strip())
        if empty:
            raise ValueError(f"benchmark(s) {', '.join(empty)} have an empty path")
        return value

    @field_validator("system_prompt")
    @classmethod
    def _non_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("system_prompt is blank: name one (project, vlaa-thinker) or a text")
        return value

    def system_prompt_choice(self) -> str:
        """``project`` / ``vlaa-thinker`` when named, else ``custom``."""
        return self.system_prompt if self.system_prompt in NAMED_SYSTEM_PROMPTS else "custom"

    def protocol(self) -> EvalProtocol:
        """The decoding / prompting settings for benchmark items under this config."""
        return EvalProtocol(
            max_new_tokens=self.max_new_tokens,
            max_pixels=self.max_pixels,
            system_prompt=system_prompt_text(self.system_prompt),
            system_prompt_choice=self.system_prompt_choice(),
            prompt_style=self.prompt_style,
        )
