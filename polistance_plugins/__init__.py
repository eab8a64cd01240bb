"""polistance: a language model's political stance as answer distributions, in lm-eval and Inspect.

Public API (no torch import happens here; docs/python.md has a worked example):
- ``evaluate(model, bank=..., adapters=...) -> Run``, ``compass(...) -> Run``, ``compare(...) -> Run``:
  what ``polistance eval``, ``compass`` and ``compare`` do, returning the run folder's tables;
- ``load_run(path) -> Run``: any run folder as pandas DataFrames;
- ``digit_distribution_from_logprobs(logprobs) -> Distribution``
- ``load_bank(name_or_path) -> Bank``
- ``compass_coordinates(answers, weights="pct") -> (econ, soc)``

The package is layered (docs/architecture.md): ``core`` < ``instruments`` < ``engine`` < ``readers``,
``train`` < ``report`` < ``pipelines`` < ``neurons`` < ``api`` < ``cli``; imports only point down.
"""

from .version import __version__  # noqa: E402
from .banks import Bank, BankError, load_bank  # noqa: E402
from .core import Distribution, compass_coordinates, digit_distribution_from_logprobs, keyed_stance  # noqa: E402
from .errors import PolistanceError  # noqa: E402

__all__ = [
    "__version__",
    "Run",
    "compare",
    "compass",
    "evaluate",
    "load_run",
    "Bank",
    "BankError",
    "Distribution",
    "PolistanceError",
    "compass_coordinates",
    "digit_distribution_from_logprobs",
    "keyed_stance",
    "load_bank",
]


def __getattr__(name):
    # The run functions live in ``api`` (imported on first use, so importing the package stays light).
    if name in ("Run", "compare", "compass", "evaluate", "load_run"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'polistance_plugins' has no attribute {name!r}")
