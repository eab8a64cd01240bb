"""Partial coverage is never silent: when only some of the answer options are among the first token's
returned log-probabilities, the distribution renormalised over them skews toward the most likely
option. Shared by the questionnaire, compass and unforced compass scorers: what an answer's metadata
records about it, the test, the metric values, the message, and saying it (a transcript note per
sample, one warning per run on the console and in the log)."""

from __future__ import annotations

import logging
import math
from typing import Callable, Iterable, Sequence

from inspect_ai.log import transcript
from inspect_ai.scorer import SampleScore
from inspect_ai.solver import TaskState

from polistance_plugins.core import Distribution

logger = logging.getLogger(__name__)

COVERAGE_FIELDS = ("present", "coverage", "tokens_returned")
"""What an answer read from log-probabilities records about them (``coverage_fields``)."""


def coverage_fields(dist: Distribution, returned: int) -> dict:
    """Which options were among the ``returned`` log-probabilities (``present``, canonical order), how
    many (``coverage``), and ``tokens_returned``."""
    return dict(zip(COVERAGE_FIELDS, (list(dist.present), dist.coverage, returned)))


def is_partial(coverage: int, options: int) -> bool:
    """Some but not all of ``options`` answer options were returned (none at all is no answer, not partial)."""
    return 0 < coverage < options


def coverages_of(scores: Iterable[SampleScore], key: str = "coverage") -> list[int]:
    """The score metadata ``key`` of every score that has one (the answers read from log-probabilities)."""
    return [s.score.metadata[key] for s in scores if (s.score.metadata or {}).get(key) is not None]


def mean_coverage(seen: Sequence[int]) -> float:
    """Mean number of options present; NaN when no answer was read from log-probabilities."""
    return sum(seen) / len(seen) if seen else math.nan


def partial_count(seen: Sequence[int], options: int) -> float:
    """How many of the coverages ``seen`` are partial (``is_partial``)."""
    return float(sum(is_partial(c, options) for c in seen))


def coverage_warning(coverage: int, options: int, returned: int, noun: str = "digit", metrics: str = "") -> str | None:
    """What to say about a sample with ``coverage`` of its ``options`` ``noun``s among the ``returned``
    log-probabilities, naming the scorer's ``<metrics>coverage`` metrics; None when that is not partial."""
    if not is_partial(coverage, options):
        return None
    return (f"only {coverage} of the {options} {noun}s were among the {returned} returned log-probabilities: the "
            f"distribution is renormalised over those and skews toward the most likely {noun} (see the {metrics}coverage "
            f"and {metrics}partial_coverage metrics; ask for more with -T top_logprobs=N where the provider allows it)")


def coverage_alarm(task: str, noun: str, metrics: str = "") -> Callable[[TaskState, str, int, int, int], None]:
    """``alarm(state, key, coverage, options, returned)`` for one scorer (its metrics named
    ``<metrics>coverage``): a partial sample gets a transcript note, and the first of them warns on
    the console and in the log (once per run)."""
    warned: list[str] = []

    def alarm(state: TaskState, key: str, coverage: int, options: int, returned: int) -> None:
        problem = coverage_warning(coverage, options, returned, noun, metrics)
        if problem is None:
            return
        transcript().info(f"{key}: {problem}")
        if not warned:
            warned.append(key)
            logger.warning(f"polistance {task}, {state.model}, item {key} (and maybe others): {problem}")

    return alarm
