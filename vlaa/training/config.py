"""The ``sft`` and ``grpo`` run-parameter groups: torch-free pydantic models.

``vlaa.parameters`` validates a whole run with these before anything heavy is imported; the
training code (``vlaa.training.sft`` / ``vlaa.training.grpo``) turns them into TRL's
``SFTConfig`` / ``GRPOConfig``. Defaults follow the paper where it gives a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlaa.launch.config import DistributedConfig
from vlaa.modeling.image_budget import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, ImageBudget
from vlaa.modeling.sources.uri import parse_model_source
from vlaa.observability.settings import MetricsSettings
from vlaa.records import REWARD_TYPES
from vlaa.training.trainer_args import TrainerKind, check_trainer_args

if TYPE_CHECKING:
    from peft import LoraConfig


_RUN_OWNED = {
    "output_dir": "checkpoint_dir",
    "seed": "seed",
    "logging_steps": "logging_steps",
    "save_strategy": "save_steps",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "deepspeed": "deepspeed",
    "learning_rate": "learning_rate",
    "num_train_epochs": "num_train_epochs",
    "max_steps": "max_steps",
    "warmup_steps": "warmup_ratio",
    "per_device_train_batch_size": "per_device_batch_size",
    # Would swap the KL callback for a copy with no trainer attached (kl_control.py).
    "restore_callback_states_from_checkpoint": "resume",
    "bf16": "precision",
    "fp16": "precision",
}
# One visual token covers 28x28 pixels in Qwen2.5-VL; a smaller bound is meaningless.
_PIXELS_FLOOR = 28 * 28


class TrainingRunFields(BaseModel):
    """Settings SFT and GRPO share: logging, Prometheus export, checkpoints and resume."""

    model_config = ConfigDict(extra="forbid")

    logging_steps: int = Field(1, gt=0)
    metrics_port: int | None = Field(
        None, ge=0, description="serve Prometheus /metrics on this port (0: any free port)"
    )
    pushgateway_url: str | None = Field(None, description="push metrics to this Pushgateway")
    save_steps: int = Field(50, gt=0, description="checkpoint every N optimizer steps")
    save_total_limit: int = Field(2, gt=0, description="checkpoints kept on disk")
    resume: bool = Field(True, description="continue from the last complete checkpoint")
    checkpoint_dir: str | None = Field(
        None,
        description="where checkpoints live (a volume that outlives the pod); "
        "default: next to the output",
    )
    seed: int = 42
    distributed: DistributedConfig = Field(
        default_factory=DistributedConfig,
        description="GPUs and nodes: one process in the step's pod by default; several GPUs "
        "run torchrun in the pod; several nodes submit a TrainJob / PyTorchJob",
    )
    trainer_args: dict[str, Any] = Field(
        default_factory=dict,
        description="more fields of TRL's SFTConfig / GRPOConfig (e.g. dataloader_num_workers, "
        "optim, gradient_checkpointing_kwargs); fields this config sets itself are refused",
    )
    precision: Literal["auto", "bf16-mixed", "fp32"] = Field(
        "auto",
        description="fp32 weights always; bf16-mixed adds bf16 autocast (auto: on a GPU with "
        "bf16, fp32 elsewhere); pure bf16 weights are not offered (small updates vanish)",
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        ge=_PIXELS_FLOOR,
        description="images larger than this many pixels are scaled down (default: the "
        "paper's evaluation cap 256*32*32, at most 334 visual tokens an image)",
    )
    min_pixels: int = Field(
        DEFAULT_MIN_PIXELS,
        ge=_PIXELS_FLOOR,
        description="images smaller than this many pixels are scaled up (Qwen's default 56*56)",
    )

    # TRL's config class, and the TRL fields the step derives from this config's own fields.
    TRAINER_KIND: ClassVar[TrainerKind]
    OWNED_TRL_FIELDS: ClassVar[dict[str, str]]

    @model_validator(mode="after")
    def _known_trainer_args(self) -> TrainingRunFields:
        if self.trainer_args:
            check_trainer_args(self.TRAINER_KIND, self.trainer_args, self.OWNED_TRL_FIELDS)
        return self

    @model_validator(mode="after")
    def _pixel_bounds_ordered(self) -> TrainingRunFields:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} is above max_pixels {self.max_pixels}")
        return self

    def image_budget(self) -> ImageBudget:
        """The processor's image bounds for this step (the same object evaluation uses)."""
        return ImageBudget(max_pixels=self.max_pixels, min_pixels=self.min_pixels)

    def metrics_settings(self) -> MetricsSettings:
        """Where to export metrics; the environment fills what the config leaves unset."""
        return MetricsSettings.from_env(
            port=self.metrics_port, pushgateway_url=self.pushgateway_url
        )

    def checkpoint_folder(self, work_dir: Path) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir else work_dir


# Linear layers of every decoder layer of a Qwen2-style LLM. The Qwen2.5-VL vision blocks reuse
# the MLP names (gate_proj / up_proj / down_proj), so the names are matched under the language
# model only: LoRA never touches the vision tower.
LLM_PROJECTIONS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
LANGUAGE_MODEL_SCOPE = "language_model"
LORA_ADAPTER_DIR = "lora_adapter"


class LoRAConfig(BaseModel):
    """LoRA adapters on the LLM's attention and MLP projections (the vision tower stays frozen)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, gt=0, description="LoRA rank")
    alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: list(LLM_PROJECTIONS),
        min_length=1,
        description="names of Linear layers inside the language model to adapt",
    )

    def peft_config(self) -> LoraConfig:
        """peft's config, its target regex restricted to the language model's layers."""
        from peft import LoraConfig

        names = "|".join(sorted({name.strip() for name in self.target_modules}))
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=rf".*\b{LANGUAGE_MODEL_SCOPE}\b.*\.({names})",
            bias="none",
            task_type="CAUSAL_LM",
        )


class SFTStepConfig(TrainingRunFields):
    """Defaults follow the paper: full fine-tuning, vision frozen, global batch 128, one epoch."""

    model_config = ConfigDict(extra="forbid")
    TRAINER_KIND: ClassVar[TrainerKind] = "sft"
    OWNED_TRL_FIELDS: ClassVar[dict[str, str]] = {
        **_RUN_OWNED,
        "gradient_accumulation_steps": "global_batch_size",
        "lr_scheduler_type": "lr_scheduler_type",
        "weight_decay": "weight_decay",
        "max_length": "max_length",
        "activation_checkpointing": "activation_checkpointing",
        "gradient_checkpointing": "activation_checkpointing",
    }

    learning_rate: float = Field(1e-5, gt=0, description="peak LR (not published by the paper)")
    global_batch_size: int = Field(128, gt=0)
    per_device_batch_size: int = Field(4, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs)")
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(0.0, ge=0)
    max_length: int | None = Field(4096, gt=0)
    freeze_vision: bool = True
    train_merger: bool = Field(True, description="keep the vision-language projector trainable")
    activation_checkpointing: bool = False
    lora: LoRAConfig | None = Field(
        None, description="train LoRA adapters instead of all LLM weights (merged on save)"
    )
    deepspeed: Literal["none", "zero2", "zero3"] = Field(
        "none", description="DeepSpeed ZeRO stage for multi-GPU runs (needs the deepspeed package)"
    )
    subset_strategy: Literal["all", "perplexity", "aha", "random"] = Field(
        "all", description="which records of the split to train on"
    )
    subset_size: int | None = Field(
        None, gt=0, description="records to keep (perplexity / random: required; aha: optional)"
    )
    perplexity_models: list[str] = Field(
        default_factory=list,
        description="models that score perplexity, in any base-model form (a folder, hf://, "
        "s3://, registry://; default: the model being trained)",
    )
    perplexity_combine: Literal["mean_log_ppl", "mean_rank"] = Field(
        "mean_log_ppl", description="how several scoring models' perplexities are combined"
    )
    perplexity_batch_size: int = Field(8, gt=0, description="samples per scoring forward pass")

    @model_validator(mode="after")
    def _subset_fields_agree(self) -> SFTStepConfig:
        strategy = self.subset_strategy
        if strategy in ("perplexity", "random") and self.subset_size is None:
            raise ValueError(f"subset_strategy={strategy} needs subset_size")
        if strategy == "all" and self.subset_size is not None:
            raise ValueError("subset_size needs a subset_strategy (perplexity, aha or random)")
        if self.perplexity_models and strategy != "perplexity":
            raise ValueError("perplexity_models is only used with subset_strategy=perplexity")
        for source in self.perplexity_models:
            parse_model_source(source)  # the base-model forms; the form only, no network
        return self


class GRPOStepConfig(TrainingRunFields):
    """Defaults follow the paper: group 4, T=0.8, rollout 512 prompts, train batch 256, KL 1e-3."""

    model_config = ConfigDict(extra="forbid")
    TRAINER_KIND: ClassVar[TrainerKind] = "grpo"
    OWNED_TRL_FIELDS: ClassVar[dict[str, str]] = {
        **_RUN_OWNED,
        "gradient_accumulation_steps": "train_batch_completions",
        "steps_per_generation": "rollout_batch_prompts",
        "lr_scheduler_type": "min_learning_rate",
        "lr_scheduler_kwargs": "min_learning_rate",
        "num_generations": "num_generations",
        "temperature": "temperature",
        "max_completion_length": "max_completion_length",
        "beta": "beta",
        "loss_type": "loss_type",
        "use_vllm": "use_vllm",
        "vllm_mode": "vllm_mode",
        "vllm_gpu_memory_utilization": "vllm_gpu_memory_utilization",
        "vllm_max_model_length": "vllm_max_model_len",
        "vllm_tensor_parallel_size": "vllm_tensor_parallel_size",
    }

    num_generations: int = Field(4, ge=2, description="group size")
    temperature: float = Field(0.8, gt=0)
    rollout_batch_prompts: int = Field(512, gt=0, description="prompts per rollout")
    train_batch_completions: int = Field(256, gt=0, description="completions per optimizer step")
    per_device_batch_size: int = Field(8, gt=0, description="completions per device micro-step")
    learning_rate: float = Field(1e-6, gt=0, description="peak LR (not published by the paper)")
    min_learning_rate: float = Field(8e-7, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    beta: float = Field(1e-3, ge=0, description="initial KL coefficient (0: no KL, no ref model)")
    kl_target: float | None = Field(
        5e-4, gt=0, description="target KL of the adaptive controller (None: fixed beta)"
    )
    kl_horizon: int = Field(10_000, gt=0, description="adaptive KL horizon, in completions")
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs)")
    max_prompt_length: int | None = Field(
        None,
        gt=0,
        description="prompts longer than this many tokens (visual tokens included) are dropped "
        "before training, with a counted reason",
    )
    max_completion_length: int = Field(1024, gt=0)
    reward_types: list[Literal["digit", "mcq", "math", "iou", "open"]] = Field(
        default_factory=lambda: list(REWARD_TYPES),
        description="verifiers in use; samples of other types are not scored",
    )
    open_reward_model: str | None = Field(
        None,
        description="reward model for 'open' samples: a local sequence-classification model "
        "folder or an http(s) scorer URL; unset: open samples are not scored",
    )
    open_reward_beta: float = Field(1.0, gt=0, description="smoothing beta of the open reward")
    loss_type: str = "grpo"
    freeze_vision: bool = True
    use_vllm: Literal["auto", "yes", "no"] = Field(
        "auto", description="vLLM rollouts: auto = when a GPU and vllm are present"
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate",
        description="colocate: vLLM shares the training GPUs in-process; server: rollouts come "
        "from a `trl vllm-serve` server (set trainer_args.vllm_server_base_url)",
    )
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, description="share of each GPU vLLM may take (colocate mode)"
    )
    vllm_max_model_len: int | None = Field(
        None,
        gt=0,
        description="vLLM context length (colocate); default: the prompt budget "
        "(max_prompt_length, else the longest prompt kept) + max_completion_length",
    )
    vllm_tensor_parallel_size: int = Field(
        1, gt=0, description="GPUs one vLLM engine spans (colocate mode)"
    )
    deepspeed: Literal["none", "zero2", "zero3"] = Field(
        "none", description="DeepSpeed ZeRO stage for multi-GPU runs (needs the deepspeed package)"
    )
    save_steps: int = Field(10, gt=0, description="checkpoint every N optimizer steps")

    @model_validator(mode="after")
    def _context_holds_a_completion(self) -> GRPOStepConfig:
        if self.vllm_max_model_len is None:
            return self
        needed = (self.max_prompt_length or 1) + self.max_completion_length
        if self.vllm_max_model_len < needed:
            raise ValueError(
                f"vllm_max_model_len {self.vllm_max_model_len} cannot hold a prompt "
                f"({self.max_prompt_length or 'at least 1'} tokens) plus max_completion_length "
                f"{self.max_completion_length}"
            )
        return self

    def prompt_budget(self) -> int | None:
        """Most prompt tokens (visual ones included) a sample may have; None: no limit."""
        if self.max_prompt_length is not None:
            return self.max_prompt_length
        if self.vllm_max_model_len is not None:
            return self.vllm_max_model_len - self.max_completion_length
        return None
