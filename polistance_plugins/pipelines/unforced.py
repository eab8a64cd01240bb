"""The unforced compass step shared by ``polistance compare --compass-unforced`` and ``polistance
compass --compass-unforced``: ask, sample and grade (``engine.unforced``), then summarise each model
against its forced answers (``instruments.unforced.unforced_summaries``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..core.label_orders import check_orders
from ..core.records import DEFAULT_MIN_MASS
from ..instruments.unforced import POSITIONS


@dataclass(frozen=True)
class UnforcedOptions:
    """How the open answers are sampled and graded (recorded in the run configuration)."""

    samples: int = 1
    max_new_tokens: int = 96
    temperature: float = 1.0
    grader: str | None = None
    grader_orders: int = 2

    def check(self) -> "UnforcedOptions":
        from ..errors import PolistanceError

        if self.samples < 1 or self.max_new_tokens < 1:
            raise PolistanceError("--unforced-samples and --max-new-tokens must be at least 1")
        check_orders(len(POSITIONS), self.grader_orders, "--grader-orders")
        return self


def load_grader(name: str | None, batch_size: int):
    """The grading backend: None (the base model itself) or a named model / local folder."""
    if name is None or name == "base":
        return None
    from ..engine import models
    from ..engine.backends.hf import LocalBackend

    return LocalBackend(models.resolve(name), batch_size=batch_size)


def run_unforced(backend, source, variants, writer, options: UnforcedOptions, batch_size: int = 16, seed: int = 0,
                 min_mass: float = DEFAULT_MIN_MASS, progress: bool = True, limit: int | None = None) -> tuple[dict, float]:
    """Sample and grade the open answers of every variant into ``writer`` (the first ``limit``
    propositions, or all); (counts, seconds)."""
    import dataclasses

    from ..engine.unforced import evaluate_unforced

    if limit is not None and limit < len(source):
        source = dataclasses.replace(source, propositions=source.propositions[:limit])
    t = time.perf_counter()
    counts = evaluate_unforced(backend, source, variants, writer, grader=load_grader(options.grader, batch_size),
                               samples=options.samples, max_new_tokens=options.max_new_tokens,
                               temperature=options.temperature, batch_size=batch_size, seed=seed,
                               grader_orders=options.grader_orders, min_mass=min_mass, progress=progress)
    return counts, round(time.perf_counter() - t, 3)
