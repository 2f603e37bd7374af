"""The typer app every ``vlaa`` command registers on, and the helpers they share: one clear
error line for input and configuration errors, step configs read from YAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from vlaa.errors import USER_ERROR_TYPES, ConfigError, describe_validation_error, error_text


class _NoFlagTypes:
    """--help shows no ``<bool>`` type next to flags: they take no value. (typer 0.29 labels
    every option with its type, flags included; ``display_type_rich`` in typer/core.py returns
    the metavar when one is set, so an empty one shows nothing.)"""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_NoFlagTypes, TyperCommand):
    pass


class _Group(_NoFlagTypes, TyperGroup):
    pass


class _Typer(typer.Typer):
    """Every command is a :class:`_Command` unless it names another class."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _Typer(
    cls=_Group,
    help="VLAA-Thinker: build the VLAA-Thinking dataset, train with SFT and/or GRPO, "
    "evaluate and publish, as a Kubeflow pipeline or on this machine.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML file with this step's config fields, at the top or under the step's "
        "run-parameter group (data:, sft:, grpo:, evaluate:, publish:).",
    ),
]


def fail(message: str) -> None:
    # One line however narrow the terminal (soft_wrap); '[@REV]' is text, not markup (escape).
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; turn input and configuration errors into one clear line."""
    try:
        return action()
    except ValidationError as error:
        fail(describe_validation_error(error, "config"))
    except (*USER_ERROR_TYPES, ValueError, KeyError) as error:
        # Not str(error).strip(quotes): that cut the closing quote off "... choose 'a' or 'b'".
        fail(error_text(error))


def load_step_config(config_type: type, path: Path | None, group: str | None = None) -> Any:
    """The step config in ``path``: its fields at the top, or wrapped in the step's run
    parameter group (``data:``, ``sft:`` ...) as the docs' run-parameter examples write them."""
    from vlaa.parameters import load_parameter_file

    fields = load_parameter_file(path) if path else {}
    if group and list(fields) == [group] and group not in config_type.model_fields:
        inner = fields[group]
        if not isinstance(inner, dict):
            raise ConfigError(f"{path}: `{group}:` must hold a mapping of {group} fields")
        fields = inner
    elif group and group in fields and group not in config_type.model_fields:
        others = ", ".join(sorted(key for key in fields if key != group))
        raise ConfigError(
            f"{path} mixes a `{group}:` group with top-level fields ({others}); write the "
            f"{group} fields either all under `{group}:` or all at the top"
        )
    return config_type.model_validate(fields)
