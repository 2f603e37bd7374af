"""Error messages close what they open: every quote, backtick and parenthesis in the text of a
raised error or a CLI failure is balanced (issue 16: some errors missed a closing quote)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer

from vlaa.cli.app import guarded
from vlaa.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
# An apostrophe inside a word (can't, S3's) or after a plural (the steps' names) is no quote.
_APOSTROPHE = re.compile(r"(?<=[A-Za-z0-9])'(?=[A-Za-z])|(?<=s)'(?=[\s,.;:)]|$)")


def _text(node: ast.expr) -> str | None:
    """The literal text of a message; each {placeholder} as X (a !r renders its own quotes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def unbalanced(text: str) -> list[str]:
    plain = _APOSTROPHE.sub("", text)
    odd = [quote for quote in ("'", '"', "`") if plain.count(quote) % 2]
    return odd + (["()"] if plain.count("(") != plain.count(")") else [])


def _messages() -> list[tuple[str, str]]:
    found = []
    for package in ("vlaa", "components", "pipelines"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name.endswith(("Error", "Exception", "Failed")) or name == "fail":
                    text = _text(node.args[0])
                    if text:
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    return found


def test_the_scan_sees_the_messages_and_catches_a_missing_quote() -> None:
    assert len(_messages()) > 200
    assert unbalanced("unknown strategy 'X") == ["'"]
    assert unbalanced("the steps' names can't be 'X' (see S3's docs)") == []


def test_every_error_message_is_balanced() -> None:
    bad = [
        f"{where}: {unbalanced(text)} {text!r}" for where, text in _messages() if unbalanced(text)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "error",
    [ConfigError("sft: unknown subset_strategy 'foo'"), KeyError("unknown pipeline 'nope'")],
)
def test_the_cli_prints_a_message_whole(error: Exception, capsys: pytest.CaptureFixture) -> None:
    def action() -> None:
        raise error

    with pytest.raises(typer.Exit):
        guarded(action)
    printed = " ".join(capsys.readouterr().out.split())
    assert printed.endswith("'foo'") or printed.endswith("'nope'"), printed
