"""Typed settings of the LLM teacher: one OpenAI-compatible endpoint per teacher step.

The API key never appears in a config: ``api_key_env`` names the environment variable (a
Kubernetes Secret mounted as env) that holds it. Steps naming the same ``base_url`` and
``api_key_env`` share one connection pool, one concurrency cap and one rate limit, so they must
agree on those limits.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TeacherStep = Literal["caption", "reason", "rewrite", "verify"]
TEACHER_STEPS: tuple[TeacherStep, ...] = ("caption", "reason", "rewrite", "verify")

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# 4 MiB: a 32K-token completion is about 130 KB of JSON, so 30x headroom, while 64 replies
# in flight hold at most 256 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024

# The settings that belong to the shared pool, not to one step's requests.
POOL_SETTINGS: tuple[str, ...] = ("max_concurrency", "requests_per_minute")


class TeacherEndpoint(BaseModel):
    """One OpenAI-compatible chat endpoint (GPT-4o, DeepSeek-R1, an in-cluster vLLM server)."""

    # hide_input_in_errors: a key pasted where a variable name belongs is never echoed.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(description="API root ending in /v1, e.g. http://vllm:8000/v1")
    model: str = Field(min_length=1, description="model id sent in every request")
    api_key_env: str | None = Field(
        default=None,
        description="NAME of the environment variable holding the API key (never the key); "
        "None for servers without auth (in-cluster vLLM)",
    )
    max_concurrency: int = Field(default=64, ge=1, description="requests in flight at once")
    requests_per_minute: float | None = Field(
        default=None, gt=0, description="smooth request rate limit; None = unlimited"
    )
    timeout_s: float = Field(default=120.0, gt=0, description="per-attempt request timeout")
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        description="largest reply body read (streamed; decompressed size); a larger one is "
        "dropped as teacher_response_too_large",
    )
    max_attempts: int = Field(default=5, ge=1, description="attempts per call, first included")
    backoff_initial_s: float = Field(default=1.0, ge=0, description="first retry wait")
    backoff_max_s: float = Field(default=60.0, ge=0, description="longest retry wait")
    max_retry_after_s: float = Field(
        default=300.0, ge=0, description="cap on a server's Retry-After that is honoured"
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="extra top-level request fields (e.g. top_p)"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, value: str | None) -> str | None:
        # The value is deliberately not echoed: a pasted key must not end up in logs.
        if value is not None and not _ENV_NAME_RE.match(value):
            raise ValueError(
                "api_key_env must be the NAME of an environment variable (letters, digits, "
                "underscores), not the key itself"
            )
        return value

    @field_validator("extra_body")
    @classmethod
    def _no_protocol_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = {"model", "messages", "stream"} & set(value)
        if reserved:
            raise ValueError(f"extra_body may not set {sorted(reserved)}")
        return value

    def pool_key(self) -> tuple[str, str | None]:
        """Endpoints with the same key share a connection pool, semaphore and rate limiter."""
        return (self.base_url, self.api_key_env)


class LLMTeacherConfig(BaseModel):
    """The four teacher steps' endpoints, the response cache and prompt-version overrides."""

    # hide_input_in_errors: a key pasted where a variable name belongs is never echoed.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    caption: TeacherEndpoint = Field(description="vision model writing structured captions")
    reason: TeacherEndpoint = Field(description="text-only reasoning model (R1-style)")
    rewrite: TeacherEndpoint = Field(description="cheap LLM removing caption mentions")
    verify: TeacherEndpoint = Field(description="LLM judge answering Yes or No")
    cache_dir: str = Field(min_length=1, description="folder of the persistent response cache")
    rebuild_cache: bool = Field(
        default=False,
        description="a damaged cache file is moved aside and a fresh cache started (every "
        "call paid again) instead of stopping the build",
    )
    prompt_version: dict[TeacherStep, str] = Field(
        default_factory=dict,
        description="per-step override of the prompt version label (recorded in meta and part "
        "of the cache key, so bumping it forces fresh calls); the prompt text is unchanged",
    )

    @classmethod
    def for_all_steps(
        cls, endpoint: TeacherEndpoint, cache_dir: str, **kwargs: Any
    ) -> LLMTeacherConfig:
        """One endpoint serving all four steps (e.g. one vLLM server with a VLM)."""
        return cls(
            caption=endpoint,
            reason=endpoint,
            rewrite=endpoint,
            verify=endpoint,
            cache_dir=cache_dir,
            **kwargs,
        )

    def endpoint(self, step: TeacherStep) -> TeacherEndpoint:
        endpoint: TeacherEndpoint = getattr(self, step)
        return endpoint

    def endpoints(self) -> dict[TeacherStep, TeacherEndpoint]:
        return {step: self.endpoint(step) for step in TEACHER_STEPS}

    @model_validator(mode="before")
    @classmethod
    def _pool_settings_apply_to_the_pool(cls, data: Any) -> Any:
        """A pool setting written on one step applies to every step sharing its endpoint (the
        documented example sets ``requests_per_minute`` on ``caption`` only, not again on
        ``rewrite`` and ``verify``); two steps that write different values still conflict."""
        if not isinstance(data, dict):
            return data
        steps = {step: data.get(step) for step in TEACHER_STEPS}
        if not all(isinstance(fields, dict) for fields in steps.values()):
            return data  # endpoints given as objects: each keeps its own values

        def pool(fields: dict[str, Any]) -> tuple[str, Any]:
            return (str(fields.get("base_url", "")).rstrip("/"), fields.get("api_key_env"))

        written: dict[tuple[str, Any], dict[str, Any]] = {}
        for fields in steps.values():
            for name in POOL_SETTINGS:
                if fields.get(name) is not None:
                    written.setdefault(pool(fields), {}).setdefault(name, fields[name])
        filled = dict(data)
        for step, fields in steps.items():
            unset = {
                name: value
                for name, value in written.get(pool(fields), {}).items()
                if fields.get(name) is None
            }
            filled[step] = {**fields, **unset}
        return filled

    @model_validator(mode="after")
    def _shared_pools_agree(self) -> LLMTeacherConfig:
        first: dict[tuple[str, str | None], tuple[TeacherStep, TeacherEndpoint]] = {}
        for step, endpoint in self.endpoints().items():
            key = endpoint.pool_key()
            if key not in first:
                first[key] = (step, endpoint)
                continue
            other_step, other = first[key]
            for name in POOL_SETTINGS:
                if getattr(endpoint, name) != getattr(other, name):
                    raise ValueError(
                        f"steps {other_step!r} and {step!r} share the endpoint "
                        f"{endpoint.base_url} (same api_key_env) and so one pool, but set "
                        f"different {name}: {getattr(other, name)} vs {getattr(endpoint, name)}; "
                        f"write {name} on one of them (it applies to the whole pool) or the "
                        "same value on both"
                    )
        return self
