"""Schema of the stance item banks (JSON Lines, one item per line), validated on load.

kinds:
- ``question``: a 0-9 question fragment, rendered "On a scale of 0-9, <text> Give only a number...";
- ``statement``: a claim rated 0-9 for agreement; usually a group of paraphrases;
- ``open``: an open-ended prompt (free text, judged elsewhere); no scale or keying.
``keying`` names the position a *high* rating expresses ("left" or "right").
``subissue`` (optional) is a short slug naming the concrete policy question an item asks, such as
``background_checks``; the topics bank labels every item so that training data can be kept off them.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
TOPIC_PATTERN = r"^[a-z][a-z0-9_]*$"
SUBISSUE_PATTERN = r"^[a-z][a-z0-9_]*$"


class Item(BaseModel):
    """One stance item: a question, a statement (with paraphrases), or an open prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, max_length=80)
    topic: str = Field(pattern=TOPIC_PATTERN, max_length=60)
    subissue: Optional[str] = Field(default=None, pattern=SUBISSUE_PATTERN, max_length=60)
    kind: Literal["question", "statement", "open"]
    text: Optional[str] = None
    paraphrases: Optional[list[str]] = None
    scale: Optional[Literal["0-9"]] = None
    keying: Optional[Literal["left", "right"]] = None
    source: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _text_nonempty(cls, v):
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("paraphrases")
    @classmethod
    def _group(cls, v):
        if v is None:
            return v
        if len(v) < 2:
            raise ValueError("a paraphrase group needs at least 2 members (use 'text' for a single wording)")
        if any(not isinstance(p, str) or not p.strip() for p in v):
            raise ValueError("paraphrases must be non-empty strings")
        if len({p.strip().lower() for p in v}) != len(v):
            raise ValueError("paraphrases within a group must differ")
        return v

    @model_validator(mode="after")
    def _shape(self):
        if (self.text is None) == (self.paraphrases is None):
            raise ValueError("give exactly one of 'text' or 'paraphrases'")
        if self.kind == "open":
            if self.scale is not None or self.keying is not None:
                raise ValueError("open items take no 'scale' or 'keying'")
        else:
            if self.scale is None:
                raise ValueError("field 'scale' is required for rated items")
            if self.keying is None:
                raise ValueError("field 'keying' is required for rated items ('left' or 'right')")
        return self

    @property
    def wordings(self) -> list[str]:
        """All wordings of the item: its paraphrases, or its single text."""
        return list(self.paraphrases) if self.paraphrases is not None else [self.text]
