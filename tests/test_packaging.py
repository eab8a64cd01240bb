"""A non-editable install carries every subpackage and data file (checked against pyproject)."""

import fnmatch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"polistance_plugins.tasks": "tasks", "polistance_plugins.solvers": "solvers", "polistance_plugins.scorers": "scorers"}


def config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dirs():
    """Every folder with an __init__.py that installs under polistance_plugins, by package name."""
    found = {}
    for init in (ROOT / "polistance_plugins").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        found[".".join(rel.parts)] = init.parent
    for name, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found[".".join((name, *rel.parts)) if rel.parts else name] = init.parent
    return found


def test_every_subpackage_is_listed():
    listed = set(config()["packages"])
    missing = sorted(set(package_dirs()) - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_data_file_is_covered_by_package_data():
    globs = config()["package-data"]
    pkgs = package_dirs()
    uncovered = []
    for name, folder in pkgs.items():
        for f in folder.rglob("*"):
            if not f.is_file() or f.suffix in (".py", ".pyc") or "__pycache__" in f.parts:
                continue
            # the package owning the file may list it, or any package above it with a sub-path glob
            owners = [(n, d) for n, d in pkgs.items() if d == folder or d in f.parents]
            if not any(
                fnmatch.fnmatch(str(f.relative_to(d)), pat) for n, d in owners for pat in globs.get(n, [])
            ):
                uncovered.append(f"{name}: {f.relative_to(folder)}")
    assert not uncovered, f"add package-data globs for: {sorted(set(uncovered))}"
