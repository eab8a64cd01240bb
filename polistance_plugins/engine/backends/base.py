"""What every backend returns per prompt: a distribution, or the reason there is none."""

from __future__ import annotations

from dataclasses import dataclass

from ...core import Distribution


@dataclass(frozen=True)
class ScoreResult:
    """Outcome for one prompt: ``distribution`` (with ``method`` "exact" or "topk") or an ``error``."""

    distribution: Distribution | None = None
    method: str = "exact"
    error: str | None = None
