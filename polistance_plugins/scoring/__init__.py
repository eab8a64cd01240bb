"""Pure scoring math: no torch, no harness imports. Every front door (CLI, lm-eval, Inspect) calls these."""

from .distribution import (
    DIGITS,
    Distribution,
    digit_distribution_from_logprobs,
    distribution_from_option_logprobs,
    grader_choice,
    option_distribution_from_logprobs,
)
from .stance import keyed_stance, agreement
from .compass import LIKERT, CompassWeights, bootstrap_interval, compass_coordinates, compass_point, load_weights, stability

__all__ = [
    "DIGITS",
    "Distribution",
    "digit_distribution_from_logprobs",
    "distribution_from_option_logprobs",
    "option_distribution_from_logprobs",
    "grader_choice",
    "keyed_stance",
    "agreement",
]
__all__ += ["LIKERT", "CompassWeights", "bootstrap_interval", "compass_coordinates", "compass_point", "load_weights", "stability"]
