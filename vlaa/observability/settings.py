"""Where training metrics go: a /metrics port to scrape, a Pushgateway, both, or neither."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

PORT_ENV = "VLAA_METRICS_PORT"
PUSHGATEWAY_ENV = "VLAA_PUSHGATEWAY_URL"


class MetricsSettings(BaseModel):
    """Prometheus export settings of one training run (both sinks off by default)."""

    model_config = ConfigDict(extra="forbid")

    port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics on this port while training (0: any free port; None: off)",
    )
    host: str = Field("0.0.0.0", description="address the /metrics server binds")
    pushgateway_url: str | None = Field(
        None, description="push to this Pushgateway after every log (None: off)"
    )
    push_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="total deadline of one push (connect, send, answer); a slower push fails",
    )
    push_queue_size: int = Field(
        4, gt=0, description="training pushes waiting to be sent; when full the oldest is dropped"
    )
    warn_every: int = Field(
        20, gt=0, description="log a warning on the first failed push, then every Nth"
    )

    @property
    def enabled(self) -> bool:
        """Whether any sink is configured."""
        return self.port is not None or bool(self.pushgateway_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> MetricsSettings:
        """Settings from ``fields``; ``VLAA_METRICS_PORT`` / ``VLAA_PUSHGATEWAY_URL`` fill the
        fields left unset (None). A malformed variable is ignored with a warning: metrics must
        never stop a run."""
        environ = os.environ if environ is None else environ
        from_environment: dict[str, Any] = {}
        if fields.get("port") is None:
            raw_port = environ.get(PORT_ENV, "").strip()
            if raw_port:
                try:
                    from_environment["port"] = int(raw_port)
                except ValueError:
                    log.warning("ignoring %s=%r: not a port number", PORT_ENV, raw_port)
        if not fields.get("pushgateway_url"):
            raw_url = environ.get(PUSHGATEWAY_ENV, "").strip()
            if raw_url:
                from_environment["pushgateway_url"] = raw_url
        try:
            return cls(**{**fields, **from_environment})
        except ValidationError as error:
            if not from_environment:
                raise
            # A bad variable (a port out of range) must not fail the run: drop what the
            # environment added. The message names the field, never the URL's credentials.
            names = ", ".join(str(e["loc"][0]) for e in error.errors())
            log.warning("ignoring metrics settings from the environment (%s invalid)", names)
            return cls(**fields)


def redact_url(url: str) -> str:
    """``url`` without user and password, for log messages (secrets never reach logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
