"""Per-form records from the samples of Inspect questionnaire and compass logs, shaped like the
records ``polistance eval`` (questionnaire) and ``polistance compare --suite compass`` (compass)
write, for ``polistance report --inspect-logs``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

from ..core import DIGITS, Distribution
from ..core.compass import LIKERT
from ..core.records import DEFAULT_MIN_MASS
from ..errors import PolistanceError
from ..instruments import compass as compass_instrument
from ..instruments import questionnaire
from .identity import ModelIdentity, identity_from_inspect, readable_labels
from .inspect_table import log_files, log_location

QUESTIONNAIRE_TASK = "questionnaire"
COMPASS_TASK = "compass"


def task_name(eval_spec) -> str:
    """The task's own name without its package prefix (``polistance_plugins/questionnaire`` -> ``questionnaire``)."""
    return eval_spec.task.split("/")[-1]


def run_label(eval_spec) -> str:
    """How a run is named when read on its own: ``identity.readable_labels`` of its model (a report
    over several runs makes the labels unique across them)."""
    return readable_labels([(identity_from_inspect(eval_spec), hint_of(eval_spec))])[identity_from_inspect(eval_spec)]


def hint_of(eval_spec) -> str | None:
    """The name a run gave its adapter (``--metadata adapter=NAME``), if any."""
    named = (eval_spec.metadata or {}).get("adapter")
    return None if named is None else str(named)


def run_info(eval_spec, location: str, label: str | None = None) -> dict:
    """What a report needs to know about a run's model: label, adapter folder, base weights, identity."""
    ident = identity_from_inspect(eval_spec)
    return {"label": label or run_label(eval_spec), "adapter": ident.adapter_path, "pretrained": ident.weights,
            "log_file": location, "identity": ident, "hint": hint_of(eval_spec)}


def _bank_name(eval_spec) -> str:
    """The bank a questionnaire run asked: the task's dataset name (the loaded bank's name), else its ``bank`` argument."""
    name = eval_spec.dataset.name if eval_spec.dataset else None
    return str(name or (eval_spec.task_args or {}).get("bank") or "terry9")


def questionnaire_records(log, location: str = "", min_mass: float = DEFAULT_MIN_MASS, label: str | None = None) -> tuple[dict, list[dict]]:
    """(model info, records) of one questionnaire log read with its samples.

    Each sample's digit distribution is rebuilt from what the scorer kept (the ``record`` in the score
    metadata: probabilities, which digits were among the returned tokens, their raw mass) and scored
    again with ``min_mass``, so the format-health threshold is the report's. ``method`` is ``topk``:
    the digits come from the first token's top log-probabilities, and ``coverage`` says how many of
    the ten were among them. A sample with no distribution (an error, or a provider that returned no
    log-probabilities) becomes a ``failed`` record with the reason. With several epochs the first is
    kept (the log-probabilities do not depend on sampling).
    """
    spec = log.eval
    info = run_info(spec, location, label)
    label, adapter = info["label"], info["adapter"]
    bank = _bank_name(spec)
    source = Path(location).name
    if not log.samples:
        raise PolistanceError(f"{location}: the log holds no samples (run inspect eval without --no-log-samples)")
    records, seen = [], set()
    for sample in sorted(log.samples, key=lambda s: s.epoch):
        if sample.id in seen:
            continue
        seen.add(sample.id)
        try:
            form = questionnaire.Form.from_fields(sample.metadata or {})
        except (KeyError, TypeError) as e:
            raise PolistanceError(f"{location}: sample {sample.id} is not a polistance questionnaire sample ({type(e).__name__}: {e})") from None
        rec = questionnaire.base_record(label, adapter, bank, form, sample.input if isinstance(sample.input, str) else form.prompt())
        scores = sample.scores or {}
        score = scores.get("digit_distribution") or next(iter(scores.values()), None)
        kept = (score.metadata or {}).get("record") if score is not None else None
        if sample.error is not None or kept is None:
            why = sample.error.message if sample.error is not None else (score.explanation if score is not None else None)
            rec.update({"status": "failed", "error": why or "no digit distribution in the log"})
        else:
            dist = Distribution(tuple(float(p) for p in kept["probs"]), float(kept["mass"]), DIGITS, tuple(bool(x) for x in kept["present"]))
            rec.update(questionnaire.score_record(form, dist, min_mass))
            rec["method"] = "topk"
        rec.update({"suite": "questionnaire", "source_file": source})
        records.append(rec)
    return info, records


def compass_source_of(log, location: str = "") -> str:
    """The compass source a compass log asked (the samples' ``weights``): "compass", "pct" or a bank path."""
    names = {(s.metadata or {}).get("weights") for s in (log.samples or [])}
    if len(names) != 1 or None in names:
        raise PolistanceError(f"{location}: the samples do not name one compass source (weights {sorted(map(str, names))})")
    return str(names.pop())


def _compass_source(log, location: str):
    """(source argument, pct file or None, loaded ``CompassSource``) of a compass log.

    The pct source needs the propositions file the run was given (``-T pct_file=FILE``); when the log
    does not name one, or the file is gone, the source cannot be rebuilt and PolistanceError says so.
    """
    name = compass_source_of(log, location)
    pct_file = None
    if name == "pct":
        pct_file = (log.eval.task_args or {}).get("pct_file")
        if not pct_file or not Path(str(pct_file)).is_file():
            raise PolistanceError(
                f"{location}: a compass run on the official PCT propositions, whose file "
                + (f"{pct_file} is no longer there" if pct_file else "the log does not name")
                + "; the report cannot rebuild the PCT source from the log (run the task with -T pct_file=FILE "
                "and keep that file where it was, or use polistance compare --suite compass --compass-source pct --pct-file FILE)"
            )
        pct_file = str(pct_file)
    try:
        return name, pct_file, compass_instrument.load_source(name, pct_file)
    except PolistanceError as e:
        raise PolistanceError(f"{location}: cannot load the compass source {name!r} the run asked: {e}") from None


def _present(kept: dict, probs: tuple[float, ...]) -> tuple[bool, ...]:
    """Which options a likert score saw: as recorded, else (older logs) probability > 0."""
    recorded = kept.get("present")
    return tuple(bool(x) for x in recorded) if recorded is not None else tuple(p > 0 for p in probs)


def compass_records(log, location: str = "", min_mass: float = DEFAULT_MIN_MASS, label: str | None = None) -> tuple[dict, list[dict]]:
    """(model info, records) of one compass log read with its samples.

    Each sample's form is rebuilt from its metadata (``LikertForm.metadata()``) and its canonical answer
    distribution from what the likert scorer kept (score metadata ``probs``, ``mass``, ``method`` and,
    for a logprob answer, ``present``: which option labels were among the returned log-probabilities),
    then scored again with ``compass.score_form`` and ``min_mass``, so the records match those
    ``polistance compare --suite compass`` writes (``"suite": "compass"``), ``present`` and ``coverage``
    included. A log from before the scorer kept ``present`` counts an option with probability 0 as
    absent; a text answer (parsed from the reply) has no ``present`` or ``coverage``. A sample the scorer left unscored (off-format below the task's own
    ``min_mass``, or a reply that did not parse) has no distribution: it becomes an ``off_format``
    record (``no_options`` when no option label appeared) with the scorer's explanation as ``reason``,
    and the ``present``/``coverage`` the scorer recorded, if any; a sample with an error is ``failed``.
    Info also carries ``compass_source`` (the source argument) and ``pct_file``. With several epochs the
    first is kept.
    """
    spec = log.eval
    info = run_info(spec, location, label)
    label, adapter = info["label"], info["adapter"]
    if not log.samples:
        raise PolistanceError(f"{location}: the log holds no samples (run inspect eval without --no-log-samples)")
    name, pct_file, source = _compass_source(log, location)
    info.update({"compass_source": name, "pct_file": pct_file})
    records, seen = [], set()
    for sample in sorted(log.samples, key=lambda s: s.epoch):
        if sample.id in seen:
            continue
        seen.add(sample.id)
        meta = sample.metadata or {}
        try:
            form = compass_instrument.LikertForm.from_fields(meta)
        except (KeyError, TypeError, ValueError) as e:
            raise PolistanceError(f"{location}: sample {sample.id} is not a polistance compass sample ({type(e).__name__}: {e})") from None
        if not 0 <= form.index < len(source) or source.propositions[form.index].id != form.item_id:
            raise PolistanceError(f"{location}: sample {sample.id} asks {form.item_id!r} as proposition {form.index}, "
                                  f"which is not what source {source.name!r} holds there (was the source file changed?)")
        rec = compass_instrument.base_record(label, adapter, source.name, form,
                                  sample.input if isinstance(sample.input, str) else form.prompt())
        scores = sample.scores or {}
        score = scores.get("likert") or next(iter(scores.values()), None)
        kept = (score.metadata or {}) if score is not None else {}
        if sample.error is not None or score is None:
            why = sample.error.message if sample.error is not None else None
            rec.update({"status": "failed", "error": why or "no likert score in the log"})
        elif kept.get("probs") is None:
            mass = kept.get("mass")
            rec.update({"probs": None, "present": kept.get("present"), "coverage": kept.get("coverage"),
                        "mass": None if mass is None else float(mass),
                        "status": "no_options" if mass == 0 else "off_format", "reason": score.explanation,
                        "expected": None, "argmax": None, "entropy": None, "econ": None, "soc": None,
                        "method": kept.get("method")})
        else:
            probs = tuple(float(p) for p in kept["probs"])
            dist = Distribution(probs, float(kept["mass"]), LIKERT, _present(kept, probs))
            rec.update(compass_instrument.score_form(form, dist, source.weights, min_mass))
            rec["method"] = kept.get("method")
            if rec["method"] == "text":  # parsed from the reply: no log-probabilities, so no coverage
                rec.update({"present": None, "coverage": None})
        rec.update({"suite": "compass", "source_file": Path(location).name})
        records.append(rec)
    return info, records


def records_from_logs(paths: Iterable[str | Path], min_mass: float = DEFAULT_MIN_MASS) -> list[tuple[dict, list[dict]]]:
    """Per-form questionnaire and compass records from the Inspect logs in ``paths`` (files and/or folders).

    Returns one (model info, records) pair per questionnaire or compass log: info ``{"label", "adapter",
    "pretrained", "log_file", "identity", "hint"}`` (``run_info``: the model told by its weights and
    adapter, labelled by ``identity.readable_labels`` over all these logs) and records like ``polistance
    eval``'s, tagged ``"suite": "questionnaire"`` and ``source_file``; compass logs give ``compass_records``
    (``"suite": "compass"``, info also ``compass_source`` and ``pct_file``). Logs of the other tasks are
    passed over. A questionnaire or compass log of a run that did not succeed (error, cancelled, started)
    is skipped with a warning naming it, as ``logs_table`` does. A form of one model in two logs is kept
    once when both give the same numbers and refused (PolistanceError) when they do not.
    """
    from inspect_ai.log import read_eval_log

    from .lm_eval_outputs import merge_records

    runs = []
    for f in log_files(paths):
        location = log_location(f)
        head = read_eval_log(f, header_only=True)
        task = task_name(head.eval)
        if task not in (QUESTIONNAIRE_TASK, COMPASS_TASK):
            continue
        if head.status != "success":
            warnings.warn(f"{location}: {task} run with status {head.status}, no records taken from it", stacklevel=2)
            continue
        runs.append((f, location, task, identity_from_inspect(head.eval), hint_of(head.eval)))
    labels = readable_labels([(ident, hint) for *_, ident, hint in runs])
    out: list[tuple[dict, list[dict]]] = []
    kept: dict[ModelIdentity, dict[str, dict]] = {}
    for f, location, task, ident, _ in runs:
        read = questionnaire_records if task == QUESTIONNAIRE_TASK else compass_records
        info, records = read(read_eval_log(f), location, min_mass, labels[ident])
        mine = kept.setdefault(ident, {})
        before = set(mine)
        merge_records(mine, [dict(r, source_file=location) for r in records], labels[ident])
        out.append((info, [r for r in records if r["key"] not in before]))
    return out


def elaboration_runs(paths: Iterable[str | Path], tasks: tuple[str, ...] = ("elaboration",)) -> list[tuple[ModelIdentity, str | None, str]]:
    """(identity, name given, log) of every successful log in ``paths`` of the graded ``tasks`` (by
    default elaboration): which model each log is about, so a report can give it the same label as
    that model's other runs."""
    from inspect_ai.log import read_eval_log

    out = []
    for f in log_files(paths):
        head = read_eval_log(f, header_only=True)
        if task_name(head.eval).endswith(tasks) and head.status == "success":
            out.append((identity_from_inspect(head.eval), hint_of(head.eval), log_location(f)))
    return out
