"""The evaluate step's config (torch-free: ``vlaa.parameters`` and the CLI import it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlaa.benchmarks import BENCHMARKS, MAX_PIXELS, EvalProtocol

GenerationChoice = Literal["auto", "vllm", "transformers"]
PaperReference = Literal["3b", "7b"]  # the paper's base sizes (render.PAPER_ROWS)


class EvaluateStepConfig(BaseModel):
    """The paper's protocol: greedy decoding, at most 800 new tokens, the training system prompt,
    images capped at 256*32*32 pixels; benchmarks are opt-in (name -> local copy)."""

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

    def protocol(self) -> EvalProtocol:
        """The decoding / prompting settings for benchmark items under this config."""
        return EvalProtocol(max_new_tokens=self.max_new_tokens, max_pixels=self.max_pixels)
