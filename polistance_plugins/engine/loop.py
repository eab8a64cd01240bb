"""The one scoring loop: every form of a form set (questionnaire or compass) for the base model and
each adapter, appended to a run folder as batches finish; and the run configuration it is resumed by.

The work is cut into fixed chunks of forms (the same cut whatever is already recorded), so a
resumed run recomputes whole chunks and produces exactly the records an uninterrupted run does.
A form set (``instruments.questionnaire.QuestionnaireForms``, ``instruments.compass.CompassForms``)
says how to prompt each form, its answer options, and how a distribution becomes a record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..version import __version__
from ..core.records import DEFAULT_MIN_MASS, record_key
from ..prompts import template_source
from .prompt_checks import check_formset
from .runs import RunWriter
from .variants import Variant, adapter_hash


def run_config(backend_info: dict, formset, variants: Sequence[Variant], seed: int, min_mass: float,
               batch_size: int, **extra) -> dict:
    """What defines a run's results: compared on --resume, stored in the manifest.

    The batch size is part of it because padding changes the last digits of the numbers."""
    template = formset.template
    return {
        "package_version": __version__,
        "backend": backend_info,
        **formset.identity(),
        "template": template,
        "template_sha256": hashlib.sha256(template_source(template).encode()).hexdigest(),
        "variants": [
            {"label": v.label, "adapter": v.adapter_path, "adapter_sha256": adapter_hash(v.adapter_path)} for v in variants
        ],
        "forms": len(formset.forms),
        "forms_sha256": hashlib.sha256("\n".join(f.key for f in formset.forms).encode()).hexdigest(),
        "seed": seed,
        "min_mass": min_mass,
        "batch_size": batch_size,
        **extra,
    }


def score_forms(
    backend,
    formset,
    variants: Sequence[Variant],
    writer,
    batch_size: int = 16,
    min_mass: float = DEFAULT_MIN_MASS,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
    desc: str = "scoring",
) -> dict:
    """Score every form for every variant; append records as chunks finish. Returns counts.

    Within a chunk, forms that share their answer options go to the backend in one call."""
    from tqdm import tqdm

    forms = list(formset.forms)
    prompts = [formset.prompt(f) for f in forms]
    chunk = batch_size * formset.chunk_batches
    counts = {"recorded": 0, "skipped": 0, "failed": 0, "off_format": 0, "retried": 0}
    retrying = getattr(writer, "retrying", set())
    bar = tqdm(total=len(forms) * len(variants), desc=desc, unit="form", disable=not progress, leave=False)
    for variant in variants:
        with backend.use(variant.adapter):
            for start in range(0, len(forms), chunk):
                idx = list(range(start, min(start + chunk, len(forms))))
                keys = {i: record_key(variant.label, formset.scope, forms[i].key) for i in idx}
                if all(keys[i] in writer.done for i in idx):
                    counts["skipped"] += len(idx)
                    bar.update(len(idx))
                    continue
                groups: dict[tuple[str, ...], list[int]] = {}
                for i in idx:
                    groups.setdefault(tuple(formset.options(forms[i])), []).append(i)
                results = {}
                for options, members in groups.items():
                    for i, res in zip(members, backend.score_prompts([prompts[i] for i in members], options)):
                        results[i] = res
                for i in idx:
                    if keys[i] in writer.done:
                        counts["skipped"] += 1
                        continue
                    rec = formset.base_record(variant.label, variant.adapter_path, forms[i], prompts[i])
                    res = results[i]
                    if res.error is not None:
                        rec.update({"status": "failed", "error": res.error})
                        counts["failed"] += 1
                    else:
                        rec.update(formset.score(forms[i], res.distribution, min_mass))
                        rec["method"] = res.method
                        counts["off_format"] += rec["status"] != "ok"
                    writer.append(rec)
                    counts["recorded"] += 1
                    counts["retried"] += keys[i] in retrying
                    if on_record:
                        on_record(rec)
                bar.update(len(idx))
    bar.close()
    return counts


@dataclass
class ScoredRun:
    """A run folder after the loop: its configuration, every record in run order, and the counts."""

    folder: Path
    config: dict
    records: list[dict]
    counts: dict
    writer: RunWriter

    @property
    def status(self) -> str:
        """``complete`` when no record of the run failed, else ``incomplete``."""
        return "incomplete" if any(r.get("status") == "failed" for r in self.records) else "complete"

    def finish(self, **extra) -> None:
        """Write the final manifest (status and counts, plus ``extra``)."""
        self.writer.write_manifest(status=self.status, extra={"counts": self.counts, **extra})


def score_into_folder(backend, formset, variants: Sequence[Variant], folder: str | Path, *, batch_size: int = 16,
                      min_mass: float = DEFAULT_MIN_MASS, seed: int = 0, resume: bool = False, overwrite: bool = False,
                      backend_info: dict | None = None, config_extra: dict | None = None,
                      on_record: Callable[[dict], None] | None = None, progress: bool = True, desc: str = "scoring") -> ScoredRun:
    """Score a form set for every variant into a run folder (new, or resumed when ``resume``).

    The caller writes its summaries, then calls ``finish()`` for the manifest."""
    folder = Path(folder)
    check_formset(backend, formset)
    config = run_config(backend_info or backend.describe(), formset, variants, seed, min_mass, batch_size, **(config_extra or {}))
    writer = RunWriter(folder, config, resume=resume, overwrite=overwrite)
    try:
        counts = score_forms(backend, formset, variants, writer, batch_size, min_mass, on_record, progress, desc)
    except BaseException as e:
        writer.abandon(e)
        raise
    records = writer.finish_records(run_order(formset, variants))
    counts["failed"] = sum(r.get("status") == "failed" for r in records)
    return ScoredRun(folder, config, records, counts, writer)


def run_order(formset, variants: Sequence[Variant]) -> list[str]:
    """The keys of a form set's records in the order an uninterrupted run writes them."""
    return [record_key(v.label, formset.scope, f.key) for v in variants for f in formset.forms]
