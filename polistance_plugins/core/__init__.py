"""The pure core: answer distributions, keyed stance, the record rule, compass coordinates and the
statistics of a comparison. No torch and no harness imports; every front door calls these."""

from .compass import LIKERT, CompassWeights, compass_coordinates, compass_point, load_weights
from .compass_stability import bootstrap_interval, stability
from .distribution import (
    DIGITS,
    Distribution,
    digit_distribution_from_logprobs,
    distribution_from_option_logprobs,
    option_distribution_from_logprobs,
)
from .records import DEFAULT_MIN_MASS, format_status, grader_choice, json_safe, record_key
from .stance import agreement, keyed_stance

__all__ = [
    "DEFAULT_MIN_MASS",
    "DIGITS",
    "LIKERT",
    "CompassWeights",
    "Distribution",
    "agreement",
    "bootstrap_interval",
    "compass_coordinates",
    "compass_point",
    "digit_distribution_from_logprobs",
    "distribution_from_option_logprobs",
    "format_status",
    "grader_choice",
    "json_safe",
    "keyed_stance",
    "load_weights",
    "option_distribution_from_logprobs",
    "record_key",
    "stability",
]
