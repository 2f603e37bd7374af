"""The user-error family: every error caused by input or configuration derives from ``UserError``.

A leaf module (it imports nothing from ``vlaa``), so any layer can raise these without pulling in
another. ``vlaa.stages`` and the CLI report a ``UserError`` (and pydantic's ``ValidationError``,
``FileNotFoundError``) as one clear line instead of a traceback; anything else is a bug and keeps
its traceback. Subclasses keep their historical built-in base too (``ValueError``,
``RuntimeError``) so ``except ValueError`` callers see no change.
"""

from __future__ import annotations

from pydantic import ValidationError


class UserError(Exception):
    """Base for errors caused by input or configuration, reported without a traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value that cannot work; the message names the field."""


# What is reported in one line: our family, a config that pydantic refused, a missing input file.
USER_ERROR_TYPES: tuple[type[BaseException], ...] = (UserError, ValidationError, FileNotFoundError)


def error_text(error: BaseException) -> str:
    """The message of ``error`` as written: ``str(KeyError("x 'y'"))`` is the repr of its
    argument (quoted and escaped), so a KeyError gives its argument itself."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


def describe_validation_error(error: ValidationError, parameter: str) -> str:
    """'sft.learning_rat: unknown parameter' style lines, naming the pipeline parameter."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = "unknown parameter" if item["type"] == "extra_forbidden" else item["msg"]
        # A whole mapping or list (a model-level check's input) is the user's config: not echoed.
        shown = item["type"] != "extra_forbidden" and not isinstance(item.get("input"), dict | list)
        value = f" (got {item.get('input')!r})" if shown else ""
        lines.append(f"{parameter}.{where}: {message}{value}")
    return "; ".join(lines)
