"""Asking a grader model for one choice out of a fixed list, in one of two modes.

- ``logprob`` (local graders): one generated token with its top log-probabilities; the grader's
  probability of each option *code* (a single-token symbol such as "3" or "K") is read with the
  scoring core, renormalised over the codes, and the most probable option wins. The whole
  distribution and its raw mass are kept.
- ``text`` (API graders): a short reply that must be one lone option, parsed strictly.

A grader that names no option (codes absent from its top log-probabilities, too little mass on
them, or a reply that is not a lone option) yields a ``Verdict`` with ``problem`` set: the scorer
records it as unscored with that reason, never as a category or a 0.

The grader is ``get_model(role="grader")``: ``--model-role grader=...`` on the command line, the
model under evaluation otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from inspect_ai.model import GenerateConfig, get_model

from polistance_plugins.core import Distribution, grader_choice, option_distribution_from_logprobs
from polistance_plugins.core.records import DEFAULT_MIN_MASS
from polistance_plugins.errors import PolistanceError

from .logprobs import first_token_logprobs

GRADER_MODES = ("logprob", "text")


@dataclass(frozen=True)
class Verdict:
    """What the grader said: the chosen option's index, the distribution (logprob mode), its reply,
    and ``problem`` (why no option could be read) when ``index`` is None."""

    index: int | None
    reply: str
    distribution: Distribution | None = None
    problem: str | None = None


def check_mode(mode: str) -> str:
    """Validate a ``grader_mode`` task argument."""
    if mode not in GRADER_MODES:
        raise PolistanceError(f"grader_mode must be one of {', '.join(GRADER_MODES)}, got {mode!r}")
    return mode


def read_codes(logprobs: dict[str, float], codes: Sequence[str], min_mass: float) -> Verdict:
    """Verdict from a first-token log-probability mapping over single-token option codes."""
    dist = option_distribution_from_logprobs(logprobs, codes)
    reply = max(logprobs, key=logprobs.get) if logprobs else ""
    index, problem = grader_choice(dist, min_mass)
    return Verdict(index, reply, dist, problem)


async def ask_grader(
    prompt: str,
    mode: str,
    codes: Sequence[str],
    parse: Callable[[str], int | None],
    top_logprobs: int = 20,
    min_mass: float = DEFAULT_MIN_MASS,
    max_tokens: int = 16,
    role: str = "grader",
) -> Verdict:
    """Send ``prompt`` to the grader (the model of ``role``) and read one option from its answer
    (see the module notes)."""
    grader = get_model(role=role)
    if mode == "logprob":
        output = await grader.generate(prompt, config=GenerateConfig(max_tokens=1, logprobs=True, top_logprobs=top_logprobs))
        lps = first_token_logprobs(output)
        if lps is None:
            return Verdict(None, output.completion, None, "the grader returned no log-probabilities; use grader_mode=text for it")
        return read_codes(lps, codes, min_mass)
    output = await grader.generate(prompt, config=GenerateConfig(max_tokens=max_tokens))
    reply = output.completion
    index = parse(reply)
    if index is None:
        return Verdict(None, reply, None, f"the grader's reply is not one lone answer: {reply[:200]!r}")
    return Verdict(index, reply)
