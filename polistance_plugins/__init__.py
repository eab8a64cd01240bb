"""polistance: a language model's political stance as answer distributions, in lm-eval and Inspect.

Public API (no torch import happens here):
- ``digit_distribution_from_logprobs(logprobs) -> Distribution``
- ``load_bank(name_or_path) -> Bank``
- ``compass_coordinates(answers, weights="pct") -> (econ, soc)``
"""

__version__ = "0.1.0"

from .banks import Bank, BankError, load_bank  # noqa: E402
from .errors import PolistanceError  # noqa: E402
from .scoring import Distribution, digit_distribution_from_logprobs, keyed_stance  # noqa: E402
from .scoring.compass import compass_coordinates  # noqa: E402

__all__ = [
    "__version__",
    "Bank",
    "BankError",
    "Distribution",
    "PolistanceError",
    "digit_distribution_from_logprobs",
    "keyed_stance",
    "load_bank",
]
__all__.append("compass_coordinates")
