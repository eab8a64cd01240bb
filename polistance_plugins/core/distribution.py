"""Answer distributions over a fixed set of options (the ten digits, or four Likert labels).

Two sources give the same object:
- exact per-option log-probabilities (local weights, or an API that echoes prompt logprobs);
- the top-k log-probabilities an API returns for the first answer token, where only the
  options that happen to be present are kept and renormalised (the sports-team paper's method).

``mass`` keeps the raw probability that fell on the options before renormalisation: a
format-health signal (a model that stopped answering with a digit has low mass).

Log-probabilities are checked, never repaired: a value that is not a real number (``true``, a
string), a positive one, or options holding more than all of the probability (beyond float
rounding, ``MASS_TOLERANCE``) raise ``ValueError`` with the reason, so a server that lies gives
a failed item instead of a made-up distribution.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Mapping, Sequence

DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))
MASS_TOLERANCE = 1e-4
"""How far above 1 a total probability (and above 0 a log-probability) may be from float rounding."""
LOG_TOLERANCE = math.log1p(MASS_TOLERANCE)


def checked_logprob(value, what: str = "log-probability") -> float:
    """``value`` as a float if it can be a log-probability (a real number <= 0 up to rounding, or
    ``-inf``); otherwise ``ValueError`` saying what is wrong with it. ``True`` is not a number here."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} {value!r} is not a number")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{what} is NaN")
    if v > LOG_TOLERANCE:
        raise ValueError(f"impossible {what}: {v:+g} (a log-probability is at most 0)")
    return min(v, 0.0)


def _logsumexp(values: Sequence[float]) -> float:
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    m = max(finite)
    return m + math.log(sum(math.exp(v - m) for v in finite))


@dataclass(frozen=True)
class Distribution:
    """A renormalised distribution over ``options`` plus how much raw probability they held.

    ``present`` says which options had a log-probability at all (all True for exact sources;
    for top-k sources, the options that appeared). ``probs`` sums to 1 unless no option was
    present, in which case it is all zeros and ``mass`` is 0.
    """

    probs: tuple[float, ...]
    mass: float
    options: tuple[str, ...] = DIGITS
    present: tuple[bool, ...] = field(default=())

    def __post_init__(self):
        if len(self.probs) != len(self.options):
            raise ValueError("probs and options differ in length")
        if not self.present:
            object.__setattr__(self, "present", tuple(True for _ in self.options))

    @property
    def valid(self) -> bool:
        """True when at least one option was present, so the statistics mean something."""
        return self.mass > 0 and any(self.present)

    @property
    def coverage(self) -> int:
        """How many options had a log-probability in the source."""
        return sum(self.present)

    @property
    def values(self) -> tuple[float, ...]:
        """Numeric value of each option: its position 0..n-1 (the digit itself for 0-9)."""
        return tuple(float(i) for i in range(len(self.options)))

    @property
    def expected(self) -> float:
        """Expected option value under the distribution (NaN if nothing was present)."""
        if not self.valid:
            return math.nan
        return sum(p * v for p, v in zip(self.probs, self.values))

    @property
    def mode(self) -> int:
        """Index of the most probable option (lowest index on ties); -1 if nothing was present."""
        if not self.valid:
            return -1
        best = max(self.probs)
        return self.probs.index(best)

    @property
    def entropy(self) -> float:
        """Shannon entropy in nats (0 = all mass on one option; ln 10 = uniform over digits)."""
        if not self.valid:
            return math.nan
        return -sum(p * math.log(p) for p in self.probs if p > 0)

    @property
    def variance(self) -> float:
        if not self.valid:
            return math.nan
        mu = self.expected
        return sum(p * (v - mu) ** 2 for p, v in zip(self.probs, self.values))

    def to_dict(self) -> dict:
        return {
            "options": list(self.options),
            "probs": [float(p) for p in self.probs],
            "mass": float(self.mass),
            "present": list(self.present),
            "expected": self.expected,
            "mode": self.mode,
            "entropy": self.entropy,
        }


def distribution_from_option_logprobs(
    logprobs: Sequence[float], options: Sequence[str] = DIGITS
) -> Distribution:
    """Distribution from one exact log-probability per option (``-inf`` for impossible options).

    ``mass`` = sum of exp(logprob); probs = exp(logprob - logsumexp). A value that cannot be a
    log-probability (``checked_logprob``) or a mass above 1 beyond rounding raises ValueError.
    """
    if len(logprobs) != len(options):
        raise ValueError(f"expected {len(options)} log-probabilities, got {len(logprobs)}")
    lps = [checked_logprob(v, f"log-probability of option {o!r}") for v, o in zip(logprobs, options)]
    total = _logsumexp(lps)
    present = tuple(v != -math.inf for v in lps)
    if total == -math.inf:
        return Distribution(tuple(0.0 for _ in lps), 0.0, tuple(options), present)
    check_total(total, "the options")
    probs = tuple(math.exp(v - total) for v in lps)
    return Distribution(probs, min(1.0, math.exp(total)), tuple(options), present)


def check_total(log_total: float, what: str) -> None:
    """ValueError when ``what`` together hold more than all of the probability (beyond rounding)."""
    if log_total > LOG_TOLERANCE:
        raise ValueError(f"impossible log-probabilities: {what} hold a probability of {math.exp(log_total):.6g}, more than 1")


def option_distribution_from_logprobs(
    logprobs: Mapping[str, float], options: Sequence[str], normalise=str.strip
) -> Distribution:
    """Distribution from a token->logprob mapping (an API's top logprobs), keeping the options present.

    Token strings are matched to options after ``normalise`` (by default surrounding whitespace
    is stripped, so "7" and " 7" both count as 7); variants of one option are summed. Tokens that
    are not options are ignored. Options absent from the mapping get probability 0 and are marked
    not present. Every token's value is checked (``checked_logprob``), and all the tokens together
    may not hold more than all of the probability: a mapping that does is a lie, not an answer.
    """
    index = {opt: i for i, opt in enumerate(options)}
    per_option: list[list[float]] = [[] for _ in options]
    every: list[float] = []
    for token, lp in logprobs.items():
        lp = checked_logprob(lp, f"log-probability of token {token!r}")
        every.append(lp)
        key = normalise(token) if normalise else token
        if key in index:
            per_option[index[key]].append(lp)
    check_total(_logsumexp(every), f"the {len(every)} tokens returned")
    lps = [_logsumexp(v) if v else -math.inf for v in per_option]
    return distribution_from_option_logprobs(lps, options)


def digit_distribution_from_logprobs(logprobs: Mapping[str, float]) -> Distribution:
    """The 0-9 distribution from a token->natural-log-probability mapping (e.g. an API's top logprobs).

    Keeps the digit tokens present (``"7"`` and ``" 7"`` are both 7, summed), renormalises over
    them, and records their raw total probability in ``.mass``.
    """
    return option_distribution_from_logprobs(logprobs, DIGITS)
