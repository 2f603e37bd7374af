"""Documentation that runs: every example and command of README.md and docs/ is checked.

- YAML / JSON blocks that are run parameters or step configs validate with the project's own
  validators; Kubernetes YAML and other marked blocks parse; python blocks compile.
- `vlaa ...` command lines (blocks and inline code) name a real subcommand and real flags;
  block lines are run with `--help` appended (nothing starts), so the shell words parse too.
- `make X` names a Makefile target; `python path.py` names a file that exists.
- Relative links point at existing files, and `#anchors` at headings there.
- docs/parameters.md is what `make docs` writes now.
A block whose kind its keys do not tell takes a marker comment on the line above it:
`<!-- example: run-parameters -->`, `<!-- example: step-config sft -->`,
`<!-- example: kubernetes -->`, `<!-- example: yaml -->` (parsed only).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from vlaa.cli import app
from vlaa.cli.parameters_doc import DOC_PATH, render
from vlaa.parameters import STEP_CONFIGS, RunParameters, check_gpu_placement, validate_parameters

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The pipelines' own parameters beside the run parameters (a --params file may hold them).
CLUSTER_KEYS = {
    "gpu_type",
    "gpu_count",
    "gpu_node_selector",
    "gpu_tolerations",
    "cpu_node_selector",
}
_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_MARKER = re.compile(r"<!--\s*example:\s*([\w-]+)(?:\s+(\w+))?\s*-->\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
# Inline code may wrap onto the next line, never across a paragraph.
_INLINE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str | None] | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    source = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        before = source[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        kind = (marker.group(1), marker.group(2)) if marker else None
        found.append(Block(page, line, match.group(1), match.group(2), kind))
    return found


def _prose(page: Path) -> str:
    """The page without its fenced blocks (inline code and links live here)."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


BLOCKS = [block for page in PAGES for block in _blocks(page)]


# ----- YAML and JSON examples ---------------------------------------------------------------


def _validate_run_parameters(values: dict[str, Any]) -> None:
    unknown = set(values) - set(RunParameters.model_fields) - CLUSTER_KEYS
    assert not unknown, f"not run parameters: {sorted(unknown)}"
    validate_parameters({k: v for k, v in values.items() if k in RunParameters.model_fields})
    if "gpu_type" in values or "gpu_count" in values:
        check_gpu_placement(values.get("gpu_type", "nvidia.com/gpu"), values.get("gpu_count", "1"))


def _step_config_of(keys: set[str]) -> type[BaseModel] | None:
    """The one step config whose fields hold every key, if exactly one does."""
    fits = [config for config in STEP_CONFIGS.values() if keys <= set(config.model_fields)]
    return fits[0] if len(fits) == 1 else None


def check_structured(block: Block) -> str:
    """Validate one YAML/JSON block; returns the kind it was checked as."""
    kind, group = block.marker or (None, None)
    if block.lang == "json":
        value = json.loads(block.text)
    else:
        documents = list(yaml.safe_load_all(block.text))
        value = documents[0] if len(documents) == 1 else documents
    if kind in ("yaml", "json"):
        return kind
    if kind == "kubernetes" or (
        isinstance(value, (dict, list))
        and all(
            isinstance(doc, dict) and {"apiVersion", "kind"} <= set(doc)
            for doc in (value if isinstance(value, list) else [value])
        )
    ):
        return "kubernetes"
    assert isinstance(value, dict), f"{block}: not a mapping; add an example marker"
    if kind == "step-config":
        assert group in STEP_CONFIGS, f"{block}: unknown step config {group!r}"
        STEP_CONFIGS[group].model_validate(value)
        return f"step-config {group}"
    if kind == "run-parameters" or set(value) <= set(RunParameters.model_fields) | CLUSTER_KEYS:
        _validate_run_parameters(value)
        return "run-parameters"
    config = _step_config_of(set(value))
    assert config is not None, (
        f"{block}: top-level keys {sorted(value)} fit no schema; add an example marker"
    )
    config.model_validate(value)
    return f"step-config {config.__name__}"


@pytest.fixture(autouse=True)
def _teacher_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The documented teacher example leaves cache_dir to the environment, as on a cluster.
    monkeypatch.setenv("VLAA_TEACHER_CACHE_DIR", str(tmp_path / "teacher-cache"))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in ("yaml", "yml", "json")], ids=str)
def test_yaml_and_json_examples_validate(block: Block) -> None:
    check_structured(block)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=str)
def test_python_examples_compile(block: Block) -> None:
    compile(block.text, str(block), "exec")


def test_every_block_says_its_language() -> None:
    bare = [str(b) for b in BLOCKS if not b.lang and not _looks_like_a_tree(b.text)]
    assert not bare, f"fenced blocks without a language (bash, yaml, text, ...): {bare}"


def _looks_like_a_tree(text: str) -> bool:
    return all(not line or line.startswith(" ") or "  " in line for line in text.splitlines())


# ----- command lines ------------------------------------------------------------------------


def _click_app() -> Any:
    # typer 0.29 vendors click (typer._click): the group is read by duck typing.
    command = typer.main.get_command(app)
    assert hasattr(command, "commands")
    return command


CLI = _click_app()


def _options(name: str) -> set[str]:
    command = CLI.commands[name]
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def check_vlaa_words(words: list[str]) -> None:
    """Subcommand and flags of `vlaa ...` (placeholders such as [--x A|B] allowed)."""
    assert len(words) > 1, "`vlaa` alone"
    names = re.split(r"[|/]", words[1].strip("[]"))
    for name in names:
        assert name in CLI.commands, f"no subcommand `vlaa {name}`"
        flags = {m for word in words[2:] for m in re.findall(r"(?<![\w-])--[a-z][\w-]*", word)}
        missing = flags - _options(name) - {"--help"}
        assert not missing, f"`vlaa {name}` has no option {sorted(missing)}"


def _shell_commands(text: str) -> list[list[str]]:
    """Simple commands of a bash block: continuation lines joined, split at ; && || |."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            tokens = line.split()
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token and set(token) <= set(";&|"):
                while current and re.match(r"^[A-Za-z_]\w*=", current[0]):
                    current.pop(0)  # VAR=value before the command
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
    return commands


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+):(?!=)", text, re.MULTILINE))


def check_command(words: list[str], run: bool) -> None:
    program = words[0]
    if program == "vlaa" or program.endswith("/vlaa"):
        check_vlaa_words(words)
        if run:
            result = CliRunner().invoke(app, [*words[1:], "--help"], env={"COLUMNS": "200"})
            assert result.exit_code == 0, f"`{' '.join(words)} --help`: {result.output}"
    elif program == "make":
        targets = [w for w in words[1:] if not re.match(r"^[A-Z_]+=", w) and not w.startswith("-")]
        missing = set(targets) - _make_targets()
        assert not missing, f"Makefile has no target {sorted(missing)}"
    elif re.search(r"(^|/)python3?(\.\d+)?$", program):
        scripts = [w for w in words[1:2] if w.endswith(".py")]
        if words[1:3] == ["-m", "pytest"]:
            scripts = [w.split("::")[0] for w in words[3:] if w.startswith("tests/")]
        for script in scripts:
            assert (ROOT / script).is_file(), f"no file {script}"


SHELL_COMMANDS = [
    (block, words)
    for block in BLOCKS
    if block.lang in ("bash", "sh", "shell", "console")
    for words in _shell_commands(block.text)
]


@pytest.mark.parametrize(
    ("block", "words"),
    SHELL_COMMANDS,
    ids=[f"{b}:{' '.join(w)[:60]}" for b, w in SHELL_COMMANDS],
)
def test_shell_commands_run_with_help(block: Block, words: list[str]) -> None:
    check_command(words, run=True)


def _inline_commands(page: Path) -> list[list[str]]:
    found = []
    for span in _INLINE.findall(_prose(page)):
        if "\n\n" in span:
            continue
        span = " ".join(span.replace("\\|", "|").split())
        first = span.split(" ", 1)[0]
        command = " " in span and (first in ("vlaa", "make") or first.endswith("/vlaa"))
        script = re.match(r"^(\.venv/bin/)?python3? (bench|tools|tests)/\S+\.py", span)
        if command or script:
            found.append(span.split())
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_inline_commands_name_real_commands_and_flags(page: Path) -> None:
    problems = []
    for words in _inline_commands(page):
        try:
            check_command(words, run=False)
        except AssertionError as error:
            problems.append(f"`{' '.join(words)}`: {error}")
    assert not problems, "\n".join(problems)


# ----- links --------------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose(page).splitlines():
        match = re.match(r"^#{1,6} (.+)$", line)
        if not match:
            continue
        slug = github_anchor(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert not broken_links(page)


def test_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = {target.partition("#")[0] for target in _LINK.findall(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages <= listed, f"docs/README.md does not list {sorted(pages - listed)}"


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 220, f"README.md has {lines} lines; move detail into docs/"


# ----- generated reference ------------------------------------------------------------------


def test_parameters_doc_is_fresh() -> None:
    committed = (ROOT / DOC_PATH).read_text(encoding="utf-8")
    assert committed == render(), "docs/parameters.md is stale: run `make docs`"


# ----- the checks themselves fail on drift --------------------------------------------------


def _block(text: str, lang: str = "yaml", marker: tuple[str, str | None] | None = None) -> Block:
    return Block(ROOT / "README.md", 1, lang, text, marker)


def test_a_misspelt_parameter_is_caught() -> None:
    with pytest.raises(Exception, match="lerning_rate"):
        check_structured(_block("sft: {lerning_rate: 1.0e-5}\n"))
    with pytest.raises(ValidationError):
        check_structured(_block("max_new_tokens: 0\n", marker=("step-config", "evaluate")))
    with pytest.raises(AssertionError, match="fit no schema"):
        check_structured(_block("nothing_known: 1\n"))
    assert check_structured(_block("apiVersion: v1\nkind: ConfigMap\n")) == "kubernetes"
    assert check_structured(_block('{"max_new_tokens": 8}', "json")).startswith("step-config")


def test_a_stale_command_is_caught() -> None:
    with pytest.raises(AssertionError, match="no option"):
        check_command(["vlaa", "run", "--locale"], run=False)
    with pytest.raises(AssertionError, match="no subcommand"):
        check_command(["vlaa", "train", "--local"], run=False)
    with pytest.raises(AssertionError, match="no target"):
        check_command(["make", "deploy"], run=False)
    with pytest.raises(AssertionError, match="no file"):
        check_command(["python", "bench/" + "nothing.py"], run=False)  # not a citation
    assert _shell_commands("A=1 make run && vlaa run --local  # comment\n") == [
        ["make", "run"],
        ["vlaa", "run", "--local"],
    ]


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top `x` (y)\n\n[a](missing.md) [b](#top-x-y) [c](#nowhere)\n")
    assert broken_links(page) == [
        "missing.md: no such file",
        "#nowhere: no heading #nowhere in page.md",
    ]


def test_the_two_readme_commands_are_what_ci_and_make_run() -> None:
    readme = [b.text.strip() for b in BLOCKS if b.page.name == "README.md" and b.lang == "bash"]
    assert readme[:2] == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == "make test", "CI must run exactly the README's test command"
    assert {"run", "test"} <= _make_targets()
