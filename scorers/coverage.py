"""Partial coverage is never silent: when only some of the answer options are among the first token's
returned log-probabilities, the distribution renormalised over them skews toward the most likely
option. Shared by the questionnaire and compass scorers: the test, the message, and saying it (a
transcript note per sample, one warning per run on the console and in the log)."""

from __future__ import annotations

import logging
from typing import Callable

from inspect_ai.log import transcript
from inspect_ai.solver import TaskState

logger = logging.getLogger(__name__)


def is_partial(coverage: int, options: int) -> bool:
    """Some but not all of ``options`` answer options were returned (none at all is no answer, not partial)."""
    return 0 < coverage < options


def coverage_warning(coverage: int, options: int, returned: int, noun: str = "digit") -> str | None:
    """What to say about a sample with ``coverage`` of its ``options`` ``noun``s among the ``returned``
    log-probabilities; None when that is not partial."""
    if not is_partial(coverage, options):
        return None
    return (f"only {coverage} of the {options} {noun}s were among the {returned} returned log-probabilities: the "
            f"distribution is renormalised over those and skews toward the most likely {noun} (see the coverage and "
            "partial_coverage metrics; ask for more with -T top_logprobs=N where the provider allows it)")


def coverage_alarm(task: str, noun: str) -> Callable[[TaskState, str, int, int, int], None]:
    """``alarm(state, key, coverage, options, returned)`` for one scorer: a partial sample gets a
    transcript note, and the first of them warns on the console and in the log (once per run)."""
    warned: list[str] = []

    def alarm(state: TaskState, key: str, coverage: int, options: int, returned: int) -> None:
        problem = coverage_warning(coverage, options, returned, noun)
        if problem is None:
            return
        transcript().info(f"{key}: {problem}")
        if not warned:
            warned.append(key)
            logger.warning(f"polistance {task}, {state.model}, item {key} (and maybe others): {problem}")

    return alarm
