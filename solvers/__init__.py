"""Inspect solvers of the polistance tasks."""

from .digit_answer import digit_answer
from .forced_then_open import forced_then_open
from .open_ended import open_ended
from .option_answer import option_answer
from .paired_replies import paired_replies
from .prefill_follow_up import prefill_and_follow_up

__all__ = ["digit_answer", "forced_then_open", "open_ended", "option_answer", "paired_replies", "prefill_and_follow_up"]
