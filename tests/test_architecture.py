"""The package's shape: layers that import only downward (import-linter), small modules, each shared
rule defined once, and other projects' internals only behind the compat module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "polistance_plugins"
MAX_LINES = 350


def package_files() -> list[Path]:
    """Every module of the package, the harness glue (tasks/, solvers/, scorers/) included."""
    files = sorted(PACKAGE.rglob("*.py"))
    for glue in ("tasks", "solvers", "scorers"):
        files += sorted((ROOT / glue).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def lines_matching(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    out = []
    for f in package_files():
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
            if rx.search(line):
                out.append(f"{rel(f)}:{n}: {line.strip()}")
    return out


def test_import_contracts_hold():
    """Layers, the pure core and the harness glue's independence from the CLI, as pyproject.toml states them."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert re.search(r"Contracts: (\d+) kept, 0 broken", out.stdout), out.stdout[-2000:]
    assert "polistance_plugins.tasks" in subprocess.run(
        [sys.executable, "-c", "import grimp; print(sorted(grimp.build_graph('polistance_plugins').modules))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    ).stdout, "import-linter must see the harness glue (the polistance_plugins/tasks symlink)"


def test_no_module_is_long():
    long = [f"{rel(f)}: {n} lines" for f in package_files() if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_default_min_mass_is_defined_once_and_no_bare_mass_literal_remains():
    definitions = [d.split(":")[0] + ":" + d.split(": ", 1)[1] for d in lines_matching(r"^\s*DEFAULT_MIN_MASS\s*=")]
    assert definitions == ["polistance_plugins/core/records.py:DEFAULT_MIN_MASS = 0.05"], definitions
    allowed = (
        "DEFAULT_MIN_MASS = 0.05",
        "MIN_ANSWER_PROBABILITY = 0.05",  # from which a model gives an answer (radical targets), not a mass threshold
        "q < 0.05",  # significance stars
        "max(0.05,",  # a colour scale's smallest extent
        "q<0.05",
        "* < 0.05",
    )
    bare = [line for line in lines_matching(r"(?<![\d.])0\.05(?!\d)") if not any(a in line for a in allowed)]
    assert not bare, f"0.05 written out instead of DEFAULT_MIN_MASS: {bare}"


def test_the_off_format_decision_is_made_in_one_function():
    decisions = lines_matching(r"mass\s*<\s*min_mass|min_mass\s*>\s*\S*mass")
    assert [d.split(":")[0] for d in decisions] == ["polistance_plugins/core/records.py"], decisions


def test_scale_directions_are_decided_in_one_place():
    assert [d.split(":")[0] for d in lines_matching(r"^\s*def directions_for\(")] == ["polistance_plugins/instruments/questionnaire.py"]
    assert not lines_matching(r"\bDIRECTIONS\s*=\s*\{"), "a table of scale directions per bank name"


def test_there_is_one_scoring_loop():
    callers = [line for line in lines_matching(r"\.score_prompts\(") if "def score_prompts" not in line]
    assert [c.split(":")[0] for c in callers] == ["polistance_plugins/engine/loop.py"], callers


def test_other_projects_internals_only_in_the_compat_module():
    compat = "polistance_plugins/readers/lm_eval_compat.py"
    found = []
    for f in package_files():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("inspect_ai", "lm_eval"):
                private = any(part.startswith("_") for part in node.module.split(".")) or any(a.name.startswith("_") for a in node.names)
                internal = node.module.split(".")[0] == "lm_eval" and node.module not in ("lm_eval",)
                if private or (internal and rel(f) != compat):
                    found.append(f"{rel(f)}:{node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
    assert not found, found


def test_no_package_exports_a_name_that_one_of_its_modules_has():
    """``from polistance_plugins.core import agreement`` must not turn into the module ``core/agreement.py``
    once something imports that module (Python sets it on the package, over the exported function)."""
    clashes = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        modules = {p.stem for p in init.parent.glob("*.py")} | {p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()}
        for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                clashes += [f"{rel(init)}: {a.asname or a.name}" for a in node.names
                            if (a.asname or a.name) in modules - {node.module.split(".")[0]}]
    assert not clashes, f"exported names that are also module names: {clashes}"
