"""Who grades in ``polistance compare``: the local grader backends of ``--grader`` (``base`` = the model
under test, the default), their description for the manifest and report, and whether a grader is
weak: the model under test itself, a model with its weights, or the embedded 135M model. A weak
grader is said in one warning line on the console; its measured reliability is in the report."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

BASE = "base"


def embedded_weights() -> str | None:
    """The weights identity of the embedded model when it is prepared on this machine (else None)."""
    from ..engine import models

    folder = models.prepared_dir(models.DEFAULT_MODEL)
    return models.weights_hash(str(folder)) if folder.is_dir() else None


def weak_reasons(tested_sha: str | None, graders: Sequence[dict], embedded_sha: str | None) -> list[str]:
    """Why each weak grader is weak (pure). ``graders``: dicts with ``name`` and ``weights_sha256``."""
    from ..engine.models import DEFAULT_MODEL

    reasons = []
    for g in graders:
        sha = g.get("weights_sha256")
        if g["name"] == BASE:
            reasons.append("the model under test grades its own replies")
        elif sha is not None and sha == tested_sha:
            reasons.append(f"grader {g['name']} has the model under test's weights")
        elif sha is not None and sha == embedded_sha:
            reasons.append(f"grader {g['name']} is the embedded {DEFAULT_MODEL} (135M parameters)")
    return reasons


def warning_line(reasons: Sequence[str], what: str) -> str | None:
    """The one console line for weak graders (None when there is none)."""
    if not reasons:
        return None
    return (f"warning: weak grader for {what}: {'; '.join(reasons)}. Its measured reliability (Cohen's kappa across "
            "label orders) is reported with the results; give --grader MODEL for a capable grader")


def grader_backends(backend, options):
    """([(label, grader backend or None = the base model itself)], description for the manifest and report).

    The graders are ``options.graders`` (local models, placed as the compared model is), or one model
    served next to the compared ones (``options.grader_api_model``: same server, same tokenizer unless
    ``grader_tokenizer``), or else the base model itself."""
    from ..engine import models
    from ..engine.backends.hf import LocalBackend
    from ..errors import PolistanceError

    describe = backend.describe()
    how = f"next-token probabilities of the category numbers, {options.grader_orders} label order(s) averaged"
    graders, info = [], []
    if options.grader_api_model:
        if options.graders:
            raise PolistanceError("--grader and --grader-api-model exclude each other: give one grader")
        if backend.kind != "api":
            raise PolistanceError("--grader-api-model names a served model: it needs --api-base (or use --grader MODEL)")
        from ..engine.backends.api import ApiBackend

        grader = ApiBackend(backend.base_url, options.grader_api_model, options.grader_tokenizer or backend.tokenizer_name,
                            backend.mode, backend.concurrency, backend.system_prompt, retry=backend.retry, log=backend.log)
        mine = grader.describe()
        graders.append((options.grader_api_model, grader))
        info.append({"name": options.grader_api_model, "weights_sha256": None, "served": True, "mode": mine["mode"],
                     "model": f"{mine['model']} (served at {mine['base_url']}; category numbers read by {mine['mode']})"})
    for name in () if options.grader_api_model else (options.graders or (BASE,)):
        label = name if name == BASE else Path(str(name)).name
        label = label if label not in {n for n, _ in graders} else f"{label}-{len(graders) + 1}"
        if name == BASE:
            graders.append((label, None))
            info.append({"name": label, "model": f"{describe['model']} (the base model)", "weights_sha256": describe.get("weights_sha256")})
            continue
        p = options.placement
        grader = LocalBackend(models.resolve(name), batch_size=options.batch_size, device=p.device, dtype=p.dtype,
                              device_map=p.device_map)
        mine = grader.describe()
        graders.append((label, grader))
        info.append({"name": label, "model": mine["model"], "weights_sha256": mine.get("weights_sha256")})
    reasons = weak_reasons(describe.get("weights_sha256"), info, embedded_weights())
    if options.grader_api_model and options.grader_api_model == describe.get("model"):
        reasons.append(f"the served grader {options.grader_api_model} is the model under test")
    return graders, {"model": " and ".join(f"{g['model']}" for g in info) + f" ({how})", "graders": info,
                     "label_orders": options.grader_orders, "source": "polistance compare", "weak": bool(reasons),
                     "weak_reasons": reasons, "served": bool(options.grader_api_model)}


def unforced_grader_reasons(backend, name: str | None) -> list[str]:
    """Why the grader of the open compass answers (``name``; None = the base model) is weak, if it is."""
    from ..engine import models

    if name is None or name == BASE:
        info = {"name": BASE, "weights_sha256": None}
    else:
        info = {"name": Path(str(name)).name, "weights_sha256": models.weights_hash(models.resolve(name))}
    return weak_reasons(backend.describe().get("weights_sha256"), [info], embedded_weights())
