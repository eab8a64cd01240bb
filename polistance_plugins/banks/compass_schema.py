"""Schema of compass bank items (``compass.jsonl``): a proposition on one axis, rated on four Likert options.

Load with ``load_bank("compass", model=CompassItem)``. ``weights`` are the axis scores of the
answers [strongly disagree, disagree, agree, strongly agree] on -10..10 (negative = left /
libertarian); ``direction`` is where *agreeing* moves, and the weights must go that way.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .schema import ID_PATTERN

AXIS_DIRECTIONS = {"economic": ("left", "right"), "social": ("libertarian", "authoritarian")}
POSITIVE = {"right", "authoritarian"}
Weight = Annotated[float, Field(ge=-10, le=10)]


class CompassItem(BaseModel):
    """One compass proposition with its paraphrases, direction and per-answer axis weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, max_length=80)
    axis: Literal["economic", "social"]
    paraphrases: list[str] = Field(min_length=2)
    direction: Literal["left", "right", "libertarian", "authoritarian"]
    weights: tuple[Weight, Weight, Weight, Weight]
    source: str = Field(min_length=1)

    @field_validator("paraphrases")
    @classmethod
    def _paraphrases(cls, v):
        if any(not p.strip() for p in v):
            raise ValueError("paraphrases must be non-empty strings")
        if len({p.strip().lower() for p in v}) != len(v):
            raise ValueError("paraphrases within a proposition must differ")
        return v

    @model_validator(mode="after")
    def _direction_fits(self):
        allowed = AXIS_DIRECTIONS[self.axis]
        if self.direction not in allowed:
            raise ValueError(f"direction {self.direction!r} does not belong to the {self.axis} axis (use {' or '.join(allowed)})")
        w = self.weights
        rising = self.direction in POSITIVE
        ordered = all(a <= b for a, b in zip(w, w[1:])) if rising else all(a >= b for a, b in zip(w, w[1:]))
        if not ordered or w[0] == w[3]:
            way = "increase" if rising else "decrease"
            raise ValueError(f"weights {list(w)} must {way} from strongly disagree to strongly agree for direction {self.direction!r}")
        return self

    @property
    def wordings(self) -> list[str]:
        """All wordings of the proposition, in file order."""
        return list(self.paraphrases)

    @property
    def topic(self) -> str:
        """The axis, so generic bank listings group compass items by axis."""
        return self.axis
