"""Documentation that is tested: every `polistance`, `lm_eval` and `inspect eval` command in the code
blocks of README.md, docs/*.md and tasks/README.md is checked against the real parsers and task
registries, and the README's Python snippets run on a small run folder.

`...` in a command stands for "more options" and is dropped; everything else must parse."""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "tasks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
SEPARATORS = {";", "&&", "||", "|", "(", ")", "$(", "&"}
LEADING_WORDS = {"do", "then", "time", "else", "exec"}


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(language, first line number, text) of every fenced code block of a Markdown file."""
    out, lang, start, lines = [], None, 0, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and lang is None:
            lang, start, lines = fence.group(1).lower(), n + 1, []
        elif fence:
            out.append((lang, start, "\n".join(lines)))
            lang = None
        elif lang is not None:
            lines.append(line)
    return out


def shell_commands(text: str, first_line: int) -> list[tuple[int, list[str]]]:
    """Each simple command of a shell block as (line number, argv), continuation lines joined,
    comments, environment assignments and `...` placeholders removed."""
    out = []
    joined, at = "", first_line
    for n, line in enumerate(text.splitlines(), start=first_line):
        if not joined:
            at = n
        joined += line.rstrip()
        if joined.endswith("\\"):
            joined = joined[:-1] + " "
            continue
        lex = shlex.shlex(joined.replace("$(", " $( "), posix=True, punctuation_chars=";&|()")
        lex.whitespace_split, lex.commenters = True, "#"
        try:
            tokens = list(lex)
        except ValueError as e:  # not shell (an output or a tree in a plain block), unless it starts like ours
            if re.match(r"^\s*(polistance|lm_eval|inspect|accelerate)\b", joined):
                out.append((at, ["polistance", f"--unparseable-shell-line ({e})"]))
            joined = ""
            continue
        segment: list[str] = []
        for tok in tokens + [";"]:
            if tok in SEPARATORS or set(tok) <= set(";&|()"):
                while segment and (re.match(r"^[A-Za-z_]\w*=", segment[0]) or segment[0] in LEADING_WORDS):
                    segment.pop(0)
                if set(segment) - {"..."}:  # `...` alone is no command; beside one it marks options left out
                    out.append((at, segment))
                segment = []
            else:
                segment.append(tok)
        joined = ""
    return out


def documented_commands():
    """Every documented shell command, with where it stands."""
    found = []
    for path in DOCS:
        for lang, start, text in code_blocks(path):
            if lang in SHELL_LANGS:
                for line, argv in shell_commands(text, start):
                    found.append((f"{path.relative_to(ROOT)}:{line}", argv))
    return found


# ---- the registries the commands are checked against ---------------------------------------------
def lm_eval_task_names() -> set[str]:
    import yaml

    from polistance_plugins.instruments.lm_eval_tasks import LM_EVAL_DIR

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    names = set()
    for f in LM_EVAL_DIR.glob("*.yaml"):
        doc = yaml.load(f.read_text(), Loader=Loader) or {}
        for key in ("task", "group"):
            if isinstance(doc.get(key), str):
                names.add(doc[key])
    return names


def inspect_tasks() -> dict[str, object]:
    from polistance_plugins import _registry

    return {name: fn for name, fn in vars(_registry).items() if callable(fn) and not name.startswith("_")}


def check_polistance(argv: list[str], elided: bool = False) -> str | None:
    """None if ``polistance <argv>`` parses and its command accepts the combination, else the complaint."""
    from polistance_plugins.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = build_parser().parse_args(argv)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "argparse exit"
    checker = getattr(args, "check", None)  # combinations a command refuses before loading anything
    if checker is not None and not elided:
        from polistance_plugins.errors import PolistanceError

        try:
            checker(args)
        except PolistanceError as e:
            return str(e)
    if getattr(args, "command", None) == "lm-eval":
        extra = [a for a in args.lm_eval_args if a != "--"]
        return check_lm_eval(extra)
    return None


def check_lm_eval(argv: list[str]) -> str | None:
    tasks = []
    for i, a in enumerate(argv):
        if a == "--tasks" and i + 1 < len(argv):
            tasks += argv[i + 1].split(",")
        elif a.startswith("--tasks="):
            tasks += a.split("=", 1)[1].split(",")
    unknown = [t for t in tasks if t.startswith("polistance") and t not in lm_eval_task_names()]
    return f"unknown lm-eval task(s) {unknown}" if unknown else None


def check_inspect(argv: list[str]) -> str | None:
    if len(argv) < 2 or argv[0] != "eval":
        return None
    task = argv[1]
    if not task.startswith("polistance_plugins/"):
        return None
    fn = inspect_tasks().get(task.split("/", 1)[1])
    if fn is None:
        return f"no Inspect task {task}"
    params = set(pyinspect.signature(fn).parameters)
    bad = [a.split("=", 1)[0] for flag, a in zip(argv, argv[1:]) if flag == "-T" and a.split("=", 1)[0] not in params]
    return f"{task} has no parameter(s) {bad} (it has {sorted(params)})" if bad else None


def check(argv: list[str]) -> str | None:
    """Validate one documented command; commands of other programs pass. ``...`` (more options) is
    dropped, and then only the parsing is checked: the elided options may complete the command."""
    elided = "..." in argv
    argv = [a for a in argv if a != "..."]
    head, rest = argv[0], argv[1:]
    if head in ("python", "python3") and rest[:2] == ["-m", "polistance_plugins.cli"]:
        return check_polistance(rest[2:], elided)
    if head == "accelerate":
        if "polistance_plugins.cli" in rest:
            return check_polistance(rest[rest.index("polistance_plugins.cli") + 1:], elided)
        return None
    if head == "polistance":
        return check_polistance(rest, elided)
    if head == "lm_eval":
        return check_lm_eval(rest)
    if head == "inspect":
        return check_inspect(rest)
    return None


COMMANDS = documented_commands()


def test_the_docs_show_commands_of_every_front_door():
    heads = {argv[0] for _, argv in COMMANDS}
    assert {"polistance", "lm_eval", "inspect"} <= heads
    assert sum(argv[0] == "polistance" for _, argv in COMMANDS) >= 30


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_is_valid(where, argv):
    problem = check(argv)
    assert problem is None, f"{where}: `{shlex.join(argv)}`: {problem}"


def test_a_broken_example_is_caught():
    """The checker itself: a misspelt option, an unknown task and an unknown -T parameter fail."""
    assert check(["polistance", "eval", "--bnak", "terry9"]) is not None
    # the README's old training example: it parsed, then the command refused the combination
    assert check(["polistance", "train", "ideology", "--topic", "all", "--leaning", "right", "--data", "my.jsonl"]) is not None
    assert check(["lm_eval", "--tasks", "polistance_terry10"]) is not None
    assert check(["inspect", "eval", "polistance_plugins/questionnaire", "-T", "bank=terry9", "-T", "nope=1"]) is not None
    assert check(["polistance", "eval", "--bank", "terry9"]) is None


# ---- the README's Python snippets ------------------------------------------------------------------
def readme_python() -> list[str]:
    return [text for lang, _, text in code_blocks(ROOT / "README.md") if lang == "python"]


def test_readme_python_snippets_run_on_a_small_run_folder(tiny_model_dir, tiny_adapters, tmp_path, monkeypatch, capsys):
    from polistance_plugins.api import compare

    snippets = readme_python()
    assert len(snippets) >= 2
    monkeypatch.chdir(tmp_path)
    compare(str(tiny_model_dir), {"southern": str(tiny_adapters["tuned"])}, banks="terry9", min_mass=0,
            out="runs/sports", batch_size=8, progress=False, log=None)
    for code in snippets:
        code = code.replace('"smollm2-135m-instruct"', repr(str(tiny_model_dir)))
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "polistance_terry9 stance" in printed
    assert "mean_stance" in printed


def test_python_api_page_runs(tiny_model_dir, tiny_adapters, tmp_path, monkeypatch, capsys):
    """docs/python.md's worked example, on the tiny model and a tiny adapter in place of the real ones."""
    blocks = [text for lang, _, text in code_blocks(ROOT / "docs" / "python.md") if lang == "python"]
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        code = code.replace('"smollm2-135m-instruct"', repr(str(tiny_model_dir)))
        code = code.replace('"adapters/southern-8steps"', repr(str(tiny_adapters["tuned"])))
        exec(compile(code, "docs/python.md", "exec"), {"__name__": "python_md"})
    printed = capsys.readouterr().out
    assert "compare complete" in printed and "terry9-09" in printed
