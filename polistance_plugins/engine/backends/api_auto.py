"""Auto mode over HTTP: exact answers at top-k speed.

Every item is read from the first answer token's top log-probabilities first (one request, no
echo). When all of an item's options are among them, that reading is exact: the server's own
log-probabilities of the options, renormalised over them, the same numbers an echo request would
give. Only the other items (an option outside the top k, a multi-token option, a failed request)
go to echo requests; an item whose top log-probabilities are impossible numbers fails with the
reason, as in every mode. Each result keeps its ``method`` ("topk" when the full top-k reading gave it,
"exact" when echo did), and its coverage shows it was complete.
"""

from __future__ import annotations

from typing import Sequence

from .api_exact import score_exact
from .api_topk import UNUSABLE, score_topk
from .base import ScoreResult


def complete(result: ScoreResult, n_options: int) -> bool:
    """Whether a top-k reading saw every option (then it is exact)."""
    return result.error is None and result.distribution is not None and result.distribution.coverage == n_options


def settled(result: ScoreResult, n_options: int) -> bool:
    """Whether a top-k reading is the item's answer: complete, or impossible numbers (a lying server
    fails the item with the reason; asking again by echo would hide the lie)."""
    return complete(result, n_options) or (result.error or "").startswith(UNUSABLE)


def score_auto(backend, prompts: Sequence[str], options: Sequence[str]) -> list[ScoreResult]:
    """One distribution per user prompt: top-k where it covers every option, echo for the rest."""
    results = score_topk(backend, prompts, options)
    rest = [i for i, r in enumerate(results) if not settled(r, len(options))]
    if rest:
        for i, res in zip(rest, score_exact(backend, [prompts[i] for i in rest], options)):
            results[i] = res
    return results
