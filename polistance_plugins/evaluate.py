"""Evaluate a bank on a backend for the base model and each adapter, writing a run folder.

The work is cut into fixed batches of forms (the same cut whatever is already recorded), so a
resumed run recomputes whole batches and produces exactly the records an uninterrupted run does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .banks import Bank
from .prompts import template_source
from .questionnaire import DEFAULT_MIN_MASS, TEMPLATE, Form, score_record
from .runs import RunWriter
from .scoring import DIGITS


CHUNK_BATCHES = 4


@dataclass(frozen=True)
class Variant:
    """One model to evaluate: a label, and the adapter name to activate (None = base)."""

    label: str
    adapter: str | None = None
    adapter_path: str | None = None


def adapter_hash(path: str | None) -> str | None:
    if not path:
        return None
    h = hashlib.sha256()
    for f in sorted(Path(path).glob("adapter_model.*")):
        h.update(f.read_bytes())
    return h.hexdigest()


def run_config(
    backend_info: dict,
    bank: Bank,
    variants: Sequence[Variant],
    forms: Sequence[Form],
    seed: int,
    min_mass: float,
    batch_size: int,
    template: str = TEMPLATE,
) -> dict:
    """What defines a run's results: compared on --resume, stored in the manifest.

    The batch size is part of it because padding changes the last digits of the numbers."""
    return {
        "package_version": __version__,
        "backend": backend_info,
        "bank": bank.name,
        "bank_sha256": bank.sha256,
        "template": template,
        "template_sha256": hashlib.sha256(template_source(template).encode()).hexdigest(),
        "variants": [
            {"label": v.label, "adapter": v.adapter_path, "adapter_sha256": adapter_hash(v.adapter_path)} for v in variants
        ],
        "forms": len(forms),
        "forms_sha256": hashlib.sha256("\n".join(f.key for f in forms).encode()).hexdigest(),
        "seed": seed,
        "min_mass": min_mass,
        "batch_size": batch_size,
    }


def record_key(label: str, bank: str, form: Form) -> str:
    return f"{label}|{bank}|{form.key}"


def base_record(variant: Variant, bank: Bank, form: Form, prompt: str) -> dict:
    return {
        "key": record_key(variant.label, bank.name, form),
        "model": variant.label,
        "adapter": variant.adapter_path,
        "bank": bank.name,
        "item_id": form.item_id,
        "topic": form.topic,
        "paraphrase": form.paraphrase,
        "direction": form.direction,
        "keying": form.keying,
        "prompt": prompt,
        "options": list(DIGITS),
    }


def evaluate_questionnaire(
    backend,
    bank: Bank,
    forms: Sequence[Form],
    variants: Sequence[Variant],
    writer: RunWriter,
    batch_size: int = 16,
    min_mass: float = DEFAULT_MIN_MASS,
    on_record: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> dict:
    """Score every form for every variant; append records as batches finish. Returns counts."""
    from tqdm import tqdm

    prompts = [f.prompt() for f in forms]
    # Work goes to the backend in fixed chunks of several batches: it sorts each chunk by length
    # (less padding), and a resumed run recomputes whole chunks, so its numbers are identical.
    chunk = batch_size * CHUNK_BATCHES
    total = len(forms) * len(variants)
    counts = {"recorded": 0, "skipped": 0, "failed": 0, "off_format": 0}
    bar = tqdm(total=total, desc="scoring", unit="prompt", disable=not progress, leave=False)
    for variant in variants:
        with backend.use(variant.adapter):
            for start in range(0, len(forms), chunk):
                idx = list(range(start, min(start + chunk, len(forms))))
                keys = [record_key(variant.label, bank.name, forms[i]) for i in idx]
                if all(k in writer.done for k in keys):
                    counts["skipped"] += len(idx)
                    bar.update(len(idx))
                    continue
                results = backend.score_prompts([prompts[i] for i in idx], DIGITS)
                for i, key, res in zip(idx, keys, results):
                    if key in writer.done:
                        counts["skipped"] += 1
                        continue
                    rec = base_record(variant, bank, forms[i], prompts[i])
                    if res.error is not None:
                        rec.update({"status": "failed", "error": res.error})
                        counts["failed"] += 1
                    else:
                        rec.update(score_record(forms[i], res.distribution, min_mass))
                        rec["method"] = res.method
                        if rec["status"] != "ok":
                            counts["off_format"] += 1
                    writer.append(rec)
                    counts["recorded"] += 1
                    if on_record:
                        on_record(rec)
                bar.update(len(idx))
    bar.close()
    return counts


def topic_summary(records: Sequence[dict]):
    """Per (model, topic) table: counts by status and means over the items answered in format."""
    import pandas as pd

    df = pd.DataFrame(records)
    rows = []
    for (model, topic), g in df.groupby(["model", "topic"], sort=False):
        ok = g[g["status"] == "ok"]
        rows.append(
            {
                "model": model,
                "topic": topic,
                "n": len(g),
                "n_ok": len(ok),
                "n_off_format": int((g["status"].isin(["off_format", "no_options"])).sum()),
                "n_failed": int((g["status"] == "failed").sum()),
                "mean_expected": _mean(ok.get("expected")),
                "mean_stance": _mean(ok.get("stance")),
                "mean_entropy": _mean(ok.get("entropy")),
                "mean_mass": _mean(g.get("mass")),
                # top-k sources: answers where some options had no log-probability at all
                "n_partial_coverage": _partial_coverage(g),
                "mean_coverage": _mean(g.get("coverage")),
            }
        )
    return pd.DataFrame(rows)


def _partial_coverage(g) -> int:
    """How many scored records lack a log-probability for at least one of their options."""
    if "coverage" not in g or "options" not in g:
        return 0
    scored = g[g["status"] != "failed"]
    return int(sum(1 for cov, opts in zip(scored["coverage"], scored["options"]) if cov is not None and cov < len(opts)))


def _mean(col) -> float:
    if col is None:
        return math.nan
    vals = [float(v) for v in col if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else math.nan
