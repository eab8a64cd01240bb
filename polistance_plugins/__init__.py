"""polistance: a language model's political stance as answer distributions, in lm-eval and Inspect.

Public API (no torch import happens here):
- ``digit_distribution_from_logprobs(logprobs) -> Distribution``
- ``load_bank(name_or_path) -> Bank``
- ``compass_coordinates(answers, weights="pct") -> (econ, soc)``

The package is layered (docs/architecture.md): ``core`` < ``instruments`` < ``engine`` < ``readers``,
``train`` < ``report`` < ``pipelines`` < ``neurons`` < ``cli``; imports only point down.
"""

__version__ = "0.1.0"

from .banks import Bank, BankError, load_bank  # noqa: E402
from .core import Distribution, compass_coordinates, digit_distribution_from_logprobs, keyed_stance  # noqa: E402
from .errors import PolistanceError  # noqa: E402

__all__ = [
    "__version__",
    "Bank",
    "BankError",
    "Distribution",
    "PolistanceError",
    "compass_coordinates",
    "digit_distribution_from_logprobs",
    "keyed_stance",
    "load_bank",
]
