"""Inspect solvers of the polistance tasks."""

from .digit_answer import digit_answer
from .open_ended import open_ended
from .prefill_follow_up import prefill_and_follow_up

__all__ = ["digit_answer", "open_ended", "prefill_and_follow_up"]
