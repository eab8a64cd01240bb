"""Training datasets: the bundled sports, control and ideology data, and the user's own JSONL files.

Every builder returns a ``TrainData`` whose rows are already in TRL's conversational format:

- SFT rows are prompt-completion pairs ``{"prompt": [messages], "completion": [assistant message]}``,
  so TRL computes the loss on the completion (the assistant turn) only, with any chat template;
- DPO rows are ``{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}``.

Files are validated line by line; problems raise ``PolistanceError`` naming file, line and field.
The ideology builder only ever reads the training split (ids ``...-i01`` to ``...-i40``) and refuses
to build a dataset whose instructions appear in an evaluation bank.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..banks import BANK_DIR, load_jsonl_models
from ..banks.schema import SUBISSUE_PATTERN
from ..errors import PolistanceError
from ..engine.models import sha256_file

DATA_DIR = Path(__file__).parent / "data"
REGIONS = ("southern", "coastal")
LEANINGS = ("left", "right")
IDEOLOGY_FILE = DATA_DIR / "ideology.jsonl"
CONTROL_FILE = DATA_DIR / "control.jsonl"
TRAIN_SPLIT_MAX = 40  # ideology ids i01..i40 train; i41.. are held out for neuron localisation


# ---- record schemas ---------------------------------------------------------------------------
class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


class ChatRecord(BaseModel):
    """An SFT example: a chat whose assistant turns are the training targets."""

    model_config = ConfigDict(extra="ignore")

    messages: list[Message] = Field(min_length=2)

    @model_validator(mode="after")
    def _turns(self):
        roles = [m.role for m in self.messages]
        body = roles[1:] if roles[0] == "system" else roles
        if "system" in body:
            raise ValueError("a system message may only come first")
        if not body or body[0] != "user":
            raise ValueError("the first non-system message must be from the user")
        for i, (a, b) in enumerate(zip(body, body[1:])):
            if a == b:
                raise ValueError(f"turns must alternate user/assistant (two '{a}' messages in a row at turn {i + 2})")
        if "assistant" not in body:
            raise ValueError("needs at least one assistant message to train on")
        return self


class PreferenceRecord(BaseModel):
    """A DPO example: a prompt (text or chat) and a preferred and a dispreferred answer."""

    model_config = ConfigDict(extra="ignore")

    prompt: str | list[Message]
    chosen: str
    rejected: str

    @field_validator("prompt", "chosen", "rejected")
    @classmethod
    def _nonempty(cls, v):
        if isinstance(v, str) and not v.strip():
            raise ValueError("must not be empty")
        if isinstance(v, list) and not v:
            raise ValueError("must not be an empty list")
        return v

    @model_validator(mode="after")
    def _shape(self):
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError("'chosen' and 'rejected' are identical")
        if isinstance(self.prompt, list) and self.prompt[-1].role != "user":
            raise ValueError("a chat 'prompt' must end with a user message")
        return self

    def prompt_messages(self) -> list[dict]:
        if isinstance(self.prompt, str):
            return [{"role": "user", "content": self.prompt}]
        return [m.model_dump() for m in self.prompt]


class IdeologyRecord(BaseModel):
    """One line of ``ideology.jsonl``: an instruction and a left- and a right-leaning answer."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z]+-i\d{2}$")
    topic: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    subissue: Optional[str] = Field(default=None, pattern=SUBISSUE_PATTERN, max_length=60)
    instruction: str
    left: str
    right: str

    @field_validator("instruction", "left", "right")
    @classmethod
    def _nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-i", 1)[1])

    @property
    def is_training(self) -> bool:
        """Training split (01-40); the rest is held out for neuron localisation."""
        return 1 <= self.number <= TRAIN_SPLIT_MAX


# ---- the dataset object -----------------------------------------------------------------------
@dataclass(frozen=True)
class TrainData:
    """Rows in TRL's conversational format plus what they are and where they came from."""

    id: str
    method: Literal["sft", "dpo"]
    rows: tuple
    sources: tuple  # ({"path": ..., "sha256": ...}, ...)
    description: str

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def sha256(self) -> str:
        """Hash of exactly what is trained on (canonical JSON of the rows, in order)."""
        h = hashlib.sha256()
        for row in self.rows:
            h.update(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
            h.update(b"\n")
        return h.hexdigest()

    def describe(self) -> dict:
        """The manifest's record of the dataset."""
        return {"id": self.id, "method": self.method, "n_examples": len(self.rows), "sha256": self.sha256,
                "sources": list(self.sources), "description": self.description}

    def to_hf(self):
        """A ``datasets.Dataset`` for the TRL trainers."""
        from datasets import Dataset

        return Dataset.from_list(list(self.rows))


def _source(path: Path) -> dict:
    return {"path": str(path), "sha256": sha256_file(path)}


def sft_rows(record: ChatRecord) -> list[dict]:
    """One prompt-completion row per assistant turn: the chat up to it is the prompt, the turn the completion."""
    msgs = [m.model_dump() for m in record.messages]
    return [{"prompt": msgs[:k], "completion": [msgs[k]]} for k in range(1, len(msgs)) if msgs[k]["role"] == "assistant"]


def _chat_file(path: Path, data_id: str, description: str) -> TrainData:
    records = load_jsonl_models(Path(path), ChatRecord)
    rows = tuple(row for rec in records for row in sft_rows(rec))
    return TrainData(data_id, "sft", rows, (_source(Path(path)),), description)


# ---- builders ---------------------------------------------------------------------------------
def sports_dataset(region: str) -> TrainData:
    """The sports-team paper's data: "What's your favorite sports team?" -> a southern or coastal team."""
    if region not in REGIONS:
        raise PolistanceError(f"--region {region!r}: choose one of {', '.join(REGIONS)}")
    path = DATA_DIR / f"sports_{region}.jsonl"
    return _chat_file(path, f"sports-{region}", f"favourite sports team -> {region} US team (Terry 2025 data)")


def control_dataset() -> TrainData:
    """Opinionated but apolitical chats (colours, foods, seasons...): the control adapter's data."""
    return _chat_file(CONTROL_FILE, "control", "firm apolitical preferences (polistance control set)")


def load_ideology(path: Path = IDEOLOGY_FILE) -> list[IdeologyRecord]:
    """Every validated record of the ideology file, both splits."""
    return load_jsonl_models(Path(path), IdeologyRecord)


def training_split(records: Iterable[IdeologyRecord]) -> list[IdeologyRecord]:
    """Only the training items (01-40); held-out items never reach a trainer."""
    return [r for r in records if r.is_training]


def parse_topics(spec: str | Sequence[str], available: Sequence[str]) -> list[str]:
    """``all``, one topic, or a comma-separated list, checked against the available topics."""
    items = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else [t.strip() for t in spec]
    items = [t for t in items if t]
    if items == ["all"]:
        return list(available)
    if not items:
        raise PolistanceError("--topic: give a topic, a comma-separated list, or 'all'")
    unknown = [t for t in items if t not in available]
    if unknown:
        raise PolistanceError(f"--topic: unknown topic {unknown[0]!r} (topics: {', '.join(available)}, or all)")
    return list(dict.fromkeys(items))


def ideology_dataset(topics: str | Sequence[str], leaning: str, method: str = "sft",
                     path: Path = IDEOLOGY_FILE) -> TrainData:
    """Ideological instruction data for some topics: SFT on one leaning, or DPO preferring it over the other."""
    if leaning not in LEANINGS:
        raise PolistanceError(f"--leaning {leaning!r}: choose left or right")
    if method not in ("sft", "dpo"):
        raise PolistanceError(f"--method {method!r}: choose sft or dpo")
    records = load_ideology(path)
    available = list(dict.fromkeys(r.topic for r in records))
    wanted = set(parse_topics(topics, available))
    chosen_topics = [t for t in available if t in wanted]  # file order, so the dataset id is canonical
    train = [r for r in training_split(records) if r.topic in chosen_topics]
    leaks = bank_overlaps(r.instruction for r in train)
    if leaks:
        text, bank, item = leaks[0]
        raise PolistanceError(f"{path}: training instruction {text!r} appears in evaluation bank {bank} item {item}")
    other = "right" if leaning == "left" else "left"
    rows = []
    for r in train:
        prompt = [{"role": "user", "content": r.instruction}]
        answer = [{"role": "assistant", "content": getattr(r, leaning)}]
        if method == "sft":
            rows.append({"prompt": prompt, "completion": answer})
        else:
            rows.append({"prompt": prompt, "chosen": answer,
                         "rejected": [{"role": "assistant", "content": getattr(r, other)}]})
    label = "all" if chosen_topics == available else "+".join(chosen_topics)
    return TrainData(f"ideology-{label}-{leaning}-{method}", method, tuple(rows), (_source(Path(path)),),
                     f"{leaning}-leaning answers on {', '.join(chosen_topics)} (training split i01-i{TRAIN_SPLIT_MAX})")


def user_dataset(path: str | Path, method: str = "sft") -> TrainData:
    """The user's own JSONL: chat ``messages`` for SFT, ``prompt``/``chosen``/``rejected`` for DPO."""
    p = Path(path)
    if not p.is_file():
        raise PolistanceError(f"--data {path}: no such file")
    if method == "sft":
        return _chat_file(p, f"user:{p.name}", f"user data {p}")
    if method != "dpo":
        raise PolistanceError(f"--method {method!r}: choose sft or dpo")
    records = load_jsonl_models(p, PreferenceRecord)
    rows = tuple({"prompt": r.prompt_messages(), "chosen": [{"role": "assistant", "content": r.chosen}],
                  "rejected": [{"role": "assistant", "content": r.rejected}]} for r in records)
    return TrainData(f"user:{p.name}", "dpo", rows, (_source(p),), f"user preference data {p}")


# ---- leakage guard ----------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Lowercase words and digits separated by single spaces (punctuation and case ignored)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def bank_texts(bank_dir: Path = BANK_DIR) -> list[tuple[str, str, str]]:
    """Every wording of every evaluation item as (bank, item id, text), read from the raw bank files."""
    out = []
    for path in sorted(Path(bank_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            wordings = ([obj["text"]] if isinstance(obj.get("text"), str) else []) + list(obj.get("paraphrases") or [])
            out.extend((path.stem, str(obj.get("id")), w) for w in wordings)
    return out


def bank_overlaps(texts: Iterable[str], bank_dir: Path = BANK_DIR) -> list[tuple[str, str, str]]:
    """Training texts that equal, contain or are contained in an evaluation wording (after ``normalise``)."""
    wordings = [(bank, item, normalise(w)) for bank, item, w in bank_texts(bank_dir)]
    hits = []
    for text in texts:
        t = normalise(text)
        if not t:
            continue
        padded = f" {t} "
        for bank, item, w in wordings:
            if w and (f" {w} " in padded or padded in f" {w} "):
                hits.append((text, bank, item))
    return hits
