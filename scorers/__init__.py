"""Inspect scorers and metrics of the polistance tasks."""

from .digit_distribution import digit_distribution
from .elaboration_judge import elaboration_judge
from .evenhandedness_judge import evenhandedness_judge
from .ideology_judge import ideology_judge
from .metrics import summarise, summary
from .unforced_position import unforced_position

__all__ = ["digit_distribution", "elaboration_judge", "evenhandedness_judge", "ideology_judge", "summarise", "summary", "unforced_position"]
