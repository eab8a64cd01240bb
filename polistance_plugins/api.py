"""The Python API: what the ``polistance`` commands do, as functions that return tidy tables.

    from polistance_plugins import compare, evaluate, load_run

    run = evaluate("smollm2-135m-instruct", bank="terry9", adapters={"southern": "adapters/southern"})
    run.tables["summary"]        # per model and topic
    run.records                  # one row per model and form, with the full distribution
    run = compare(adapters={"southern": "adapters/southern"}, suites=("questionnaire", "compass"))
    load_run("runs/sports").tables["topic_shift"]

Each function takes the options of its command (the same names, with underscores) and writes the
same run folder; the CLI calls these functions. ``load_run`` reads any run folder back.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .core.records import DEFAULT_MIN_MASS
from .engine.backends import BackendSpec
from .engine.device import AUTO, Placement
from .engine.models import DEFAULT_MODEL
from .errors import PolistanceError

Adapters = Mapping[str, str] | Iterable[str] | Iterable[tuple[str, str]] | None


@dataclass
class Run:
    """A run folder read back: what made it, every record, and its tables as pandas DataFrames."""

    folder: Path
    kind: str
    manifest: dict
    records: "pd.DataFrame"  # noqa: F821
    tables: dict = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        """``complete``, ``incomplete`` (some forms failed) or ``running`` (interrupted)."""
        return self.manifest.get("status")

    @property
    def report(self) -> Path | None:
        """The HTML report of a compare run (None for eval and compass runs)."""
        path = self.folder / "report.html"
        return path if path.is_file() else None


# ---- reading a run back --------------------------------------------------------------------------
def run_kind(config: dict) -> str:
    """``eval``, ``compass``, ``compare`` or ``report`` (built from harness outputs), from a run's configuration."""
    if config.get("kind") == "compare":
        return "compare" if str(config.get("origin", "polistance compare")) == "polistance compare" else "report"
    if "source" in config:
        return "compass"
    if "bank" in config:
        return "eval"
    raise PolistanceError("not a polistance run folder: its manifest names no bank, compass source or comparison")


def load_run(path: str | Path) -> Run:
    """Any run folder (``polistance eval``, ``compass``, ``compare``, or ``report`` from harness outputs)
    as tidy DataFrames: ``records`` (one row per model and form) and ``tables`` by name
    (``summary``, ``topic_shift``, ``propositions``, ... — the CSV files of the folder)."""
    import pandas as pd

    from .engine.runs import read_records
    from .report.meta import read_manifest

    folder = Path(path)
    manifest = read_manifest(folder)
    kind = run_kind(manifest.get("config", {}))
    records = pd.DataFrame(read_records(folder))
    csvs = sorted((folder / "tables").glob("*.csv")) if kind in ("compare", "report") else sorted(folder.glob("*.csv"))
    tables = {p.stem: _read_csv(p) for p in csvs}
    if kind == "compass" and (folder / "summary.json").is_file():
        tables["points"] = pd.json_normalize(json.loads((folder / "summary.json").read_text()))
    return Run(folder, kind, manifest, records, tables)


def _read_csv(path: Path):
    """A table of the run folder; a table with no rows and no columns (a suite that was not run) is empty."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


# ---- running -------------------------------------------------------------------------------------
def adapter_list(adapters: Adapters) -> list[tuple[str, str]]:
    """Adapters as ``(name, folder)`` pairs from a dict, pairs, or ``"NAME=DIR"`` / ``"DIR"`` strings."""
    if adapters is None:
        return []
    if isinstance(adapters, Mapping):
        return [(str(k), str(v)) for k, v in adapters.items()]
    out = []
    for a in adapters:
        if isinstance(a, (tuple, list)):
            out.append((str(a[0]), str(a[1])))
            continue
        name, sep, folder = str(a).partition("=")
        out.append((name, folder) if sep else (Path(str(a).rstrip("/")).name, str(a)))
    return out


def _folder(out, resume, runs_dir, label: str, overwrite: bool) -> Path:
    """The run folder (``resume``, else ``out``, else a new one under ``runs_dir``), checked before any
    model loads: a file in its place, a run already there, or nothing to resume is refused."""
    from .engine.runs import check_run_folder, new_run_id

    folder = Path(resume) if resume else Path(out) if out else Path(runs_dir) / new_run_id(label)
    check_run_folder(folder, bool(resume), overwrite)
    return folder


def _checked_adapters(adapters: Adapters, backend: Mapping | None) -> list[tuple[str, str]]:
    """The adapters as pairs, checked before any model loads: each local folder is a PEFT adapter;
    with a served model (``api_base``) each is ``NAME=SERVED_MODEL``, a model name on the same server."""
    from .engine.adapter_files import check_adapter_dir

    pairs = adapter_list(adapters)
    served = bool((backend or {}).get("api_base"))
    for name, path in pairs:
        if served and not path.strip():
            raise PolistanceError(f"--adapters {name}=: give the served model's name (NAME=SERVED_MODEL)")
        if not served:
            check_adapter_dir(path)
    return pairs


def _spec(model: str, batch_size: int | str | None, backend: Mapping | None, placement: Placement,
          prefix_sharing: bool = True) -> BackendSpec:
    """The backend to use: local weights (loaded as ``placement`` says), or a served model when
    ``backend`` names ``api_base``."""
    return BackendSpec(model=model, batch_size=batch_size, placement=placement, share_prefix=prefix_sharing,
                       **dict(backend or {}))


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def evaluate(
    model: str = DEFAULT_MODEL,
    *,
    bank: str = "terry9",
    adapters: Adapters = None,
    topics: str | Iterable[str] | None = None,
    paraphrases: str = "all",
    directions: str = "auto",
    limit: int | None = None,
    batch_size: int | str | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
    seed: int = 0,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    overwrite: bool = False,
    backend: Mapping | None = None,
    device: str = AUTO,
    dtype: str = AUTO,
    device_map: str | None = None,
    prefix_sharing: bool = True,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = _stderr,
) -> Run:
    """``polistance eval``: a 0-9 bank for the model and each adapter; returns the run read back.

    ``backend`` holds the options of a served model (``api_base``, ``api_model``, ``api_mode``,
    ``tokenizer``, ``concurrency``) and ``system_prompt``; without it the weights are loaded here,
    on ``device`` in ``dtype`` (``device_map="auto"`` spreads them over every GPU; docs/gpu.md).
    ``batch_size``: a number, ``"auto"`` (the largest that fits) or None (16, or on ``resume`` the
    recorded one). With a served model, ``adapters`` are ``NAME=SERVED_MODEL`` names on the server."""
    from .banks import load_bank
    from .engine.backends import make_backend
    from .engine.variants import load_variants
    from .instruments.questionnaire import QuestionnaireForms, bank_forms, check_paraphrases, directions_for, parse_topics
    from .pipelines.questionnaire import run_questionnaire

    loaded = load_bank(bank)
    forms = bank_forms(loaded, check_paraphrases(paraphrases), directions_for(loaded, directions), parse_topics(loaded, topics), limit)
    if not forms:
        raise PolistanceError(f"bank {loaded.name} has no rated items to ask")
    pairs = _checked_adapters(adapters, backend)
    placement = Placement(device, dtype, device_map)
    folder = _folder(out, resume, runs_dir, f"{loaded.name}-{Path(str(model)).name}", overwrite)
    be = make_backend(_spec(model, batch_size, backend, placement, prefix_sharing))
    variants = load_variants(be, pairs)
    if log:
        log(f"run folder: {folder}")
    run_questionnaire(be, QuestionnaireForms(loaded, tuple(forms)), variants, folder, batch_size=batch_size,
                      min_mass=min_mass, seed=seed, resume=bool(resume), overwrite=overwrite,
                      backend_info={"model_id": model, **be.describe()}, on_record=on_record, progress=progress)
    return load_run(folder)


def compass(
    model: str = DEFAULT_MODEL,
    *,
    source: str = "compass",
    pct_file: str | Path | None = None,
    adapters: Adapters = None,
    paraphrases: str = "all",
    orders: Iterable[str] = ("normal", "reversed"),
    labels: Iterable[str] = ("numbers", "words"),
    limit: int | None = None,
    n_resamples: int = 2000,
    batch_size: int | str | None = None,
    min_mass: float = DEFAULT_MIN_MASS,
    seed: int = 0,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    overwrite: bool = False,
    backend: Mapping | None = None,
    device: str = AUTO,
    dtype: str = AUTO,
    device_map: str | None = None,
    prefix_sharing: bool = True,
    compass_unforced: bool = False,
    unforced_samples: int = 1,
    max_new_tokens: int = 96,
    grader: str | None = None,
    grader_orders: int = 2,
    progress: bool = True,
    log: Callable[[str], None] | None = _stderr,
) -> Run:
    """``polistance compass``: the compass point of the model and each adapter, with intervals and
    stability. The model options are ``evaluate``'s. ``compass_unforced`` also asks each proposition
    openly, samples ``unforced_samples`` replies of at most ``max_new_tokens`` and has ``grader``
    (default the model itself) grade them in ``grader_orders`` label orders (``unforced.json``,
    ``unforced.csv``)."""
    from .engine.backends import make_backend
    from .engine.variants import load_variants
    from .instruments.compass import CompassForms, build_forms, load_source
    from .pipelines.compass import run_compass
    from .pipelines.unforced import UnforcedOptions

    if n_resamples < 100:
        raise PolistanceError("--n-resamples: use at least 100 bootstrap resamples")
    unforced = None
    if compass_unforced:
        if (backend or {}).get("api_base"):
            raise PolistanceError("--compass-unforced samples and grades on local weights (--model); for a served model "
                                  "run `inspect eval polistance_plugins/compass_unforced`")
        unforced = UnforcedOptions(samples=unforced_samples, max_new_tokens=max_new_tokens, grader=grader,
                                   grader_orders=grader_orders).check()
    src = load_source(source, pct_file)
    forms = build_forms(src, paraphrases, tuple(orders), tuple(labels), limit)
    pairs = _checked_adapters(adapters, backend)
    placement = Placement(device, dtype, device_map)
    label = "compass" if src.name == "compass" else f"compass-{Path(src.name).stem}"
    folder = _folder(out, resume, runs_dir, f"{label}-{Path(str(model)).name}", overwrite)
    be = make_backend(_spec(model, batch_size, backend, placement, prefix_sharing))
    variants = load_variants(be, pairs)
    if log:
        log(f"run folder: {folder} ({len(src)} propositions, {len(forms)} forms, {len(variants)} model(s))")
    if log and unforced:
        from .pipelines.graders import unforced_grader_reasons, warning_line

        line = warning_line(unforced_grader_reasons(be, unforced.grader), "the open compass answers")
        if line:
            log(line)
    run_compass(be, CompassForms(src, tuple(forms)), variants, folder, batch_size=batch_size, min_mass=min_mass,
                n_resamples=n_resamples, seed=seed, resume=bool(resume), overwrite=overwrite, progress=progress,
                unforced=unforced, limit=limit)
    return load_run(folder)


def compare(
    model: str = DEFAULT_MODEL,
    adapters: Adapters = None,
    *,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    overwrite: bool = False,
    backend: Mapping | None = None,
    device: str = AUTO,
    dtype: str = AUTO,
    device_map: str | None = None,
    prefix_sharing: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = _stderr,
    **options,
) -> Run:
    """``polistance compare``: base and adapters on the chosen suites, one run folder with the report.

    ``options`` are the fields of ``pipelines.compare.CompareOptions`` (``suites``, ``banks``,
    ``control``, ``topics``, ``limit``, ``batch_size``, ``compass_source``, ``samples``, ``graders``,
    ``grader_orders``, ``grader_api_model``, ``compass_unforced``, ...); ``grader="MODEL"`` (or a list
    of two) is the same as ``graders``. The model options are ``evaluate``'s; the placement applies to
    local graders too. With a served model, ``adapters`` are model names on the same server (vLLM
    ``--lora-modules``) and elaboration samples through the server."""
    from .engine.backends import make_backend
    from .pipelines.compare import CompareOptions, check_inputs, parse_suites, run_compare

    if "grader" in options:
        grader = options.pop("grader")
        options["graders"] = () if grader is None else (grader,) if isinstance(grader, str) else tuple(grader)
    known = {f.name for f in dataclasses.fields(CompareOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise PolistanceError(f"compare: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for key in ("suites", "banks", "topics", "compass_orders", "compass_labels", "graders"):
        value = options.get(key)
        if isinstance(value, str):
            options[key] = tuple(v.strip() for v in value.split(",") if v.strip())
    options.setdefault("placement", Placement(device, dtype, device_map))
    opts = CompareOptions(**options)
    opts = dataclasses.replace(opts, suites=parse_suites(opts.suites))
    if opts.grader_api_model and not (backend or {}).get("api_base"):
        raise PolistanceError("--grader-api-model names a served model: it needs --api-base (or use --grader MODEL)")
    if opts.grader_api_model and opts.graders:
        raise PolistanceError("--grader and --grader-api-model exclude each other: give one grader")
    if (backend or {}).get("api_base") and opts.compass_unforced:
        raise PolistanceError("--compass-unforced samples and grades on local weights (--model); for a served model "
                              "run `inspect eval polistance_plugins/compass_unforced`")
    names = [n for n, _ in adapter_list(adapters)]
    if opts.control and opts.control not in names:
        raise PolistanceError(f"--control {opts.control!r}: not one of the adapters ({', '.join(names) or 'none given'})")
    pairs = _checked_adapters(adapters, backend)
    check_inputs(opts)
    folder = _folder(out, resume, runs_dir, f"compare-{Path(str(model)).name}", overwrite)
    be = make_backend(_spec(model, opts.batch_size, backend, opts.placement, prefix_sharing))
    run_compare(be, pairs, folder, opts, resume=bool(resume), overwrite=overwrite, progress=progress,
                log=log or (lambda m: None))
    return load_run(folder)
