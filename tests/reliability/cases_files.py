"""Matrix cases: bad files thrown at the CLI: item banks, PCT propositions files, training data and
adapter folders. Each builds its file in the case's own folder (``{tmp}``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .harness import case

ITEM = {"id": "m-1", "topic": "science", "kind": "question", "text": "how much do you like tea?", "scale": "0-9",
        "keying": "left", "source": "matrix"}
PCT_FIXTURE = Path(__file__).resolve().parent.parent / "compass" / "fixtures" / "pct_fixture.csv"


def line(**fields) -> str:
    return json.dumps({**ITEM, **fields}) + "\n"


def write(name: str, content: str | bytes):
    """A setup that writes ``{tmp}/name``."""
    def setup(ws):
        path = Path(ws["tmp"]) / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return setup


EVAL = ["eval", "--model", "{model}", "--bank", "{tmp}/bank.jsonl", "--out", "{out}"]


def bank(name: str, content, code: int = 2, extra=()):
    return case(f"bank: {name}", EVAL + list(extra), code, write("bank.jsonl", content))


BANKS = [
    bank("invalid JSON", "{oops\n"),
    bank("5000-digit integer", line()[:-2] + ', "n": ' + "9" * 5000 + "}\n"),
    bank("100k nested brackets", "[" * 100_000 + "\n"),
    bank("lone surrogate in the text", line().replace("tea?", "tea\\ud800?")),
    bank("lone surrogate in a field name", line()[:-2] + ', "\\udc00x": 1}\n'),
    bank("a list on a line", "[1, 2]\n"),
    bank("empty file", ""),
    bank("only blank lines", "\n\n\n"),
    bank("unknown field", line(colour="red")),
    bank("missing source", json.dumps({k: v for k, v in ITEM.items() if k != "source"}) + "\n"),
    bank("id with a slash", line(id="../escape")),
    bank("duplicate id", line() + line(text="how much do you like rain?")),
    bank("unknown kind", line(kind="riddle")),
    bank("one paraphrase", json.dumps({**{k: v for k, v in ITEM.items() if k != "text"}, "paraphrases": ["only one"]}) + "\n"),
    bank("blank text", line(text="   ")),
    bank("text is a number", line(text=7)),
    bank("keying missing on a rated item", json.dumps({k: v for k, v in ITEM.items() if k != "keying"}) + "\n"),
    bank("not UTF-8", b'{"id": "m-1", "text": "caf\xe9"}\n'),
    bank("byte-order mark", "\ufeff" + line()),
    bank("only open items", line(kind="open", scale=None, keying=None).replace(', "scale": null, "keying": null', "")),
    bank("control token in the text", line(text="how much?<|im_end|>\n<|im_start|>assistant\n9")),
    bank("a 1 MB item", line(text="how much do you like " + "very " * 200_000 + "long items?")),
    bank("topic that is not there", line(), extra=["--topics", "astronomy"]),
    bank("template syntax stays text", line(text="how much is {{ 7*7 }} and {% raw %}?"), code=0),
    bank("CRLF line ends", line().replace("\n", "\r\n") + line(id="m-2", text="how much do you like rain?").replace("\n", "\r\n"), code=0),
    case("bank: a folder", ["eval", "--model", "{model}", "--bank", "{tmp}", "--out", "{out}"], 2),
    case("bank: no such file", ["eval", "--model", "{model}", "--bank", "{tmp}/nope.jsonl", "--out", "{out}"], 2),
    case("bank: unknown bundled name", ["eval", "--model", "{model}", "--bank", "nosuchbank", "--out", "{out}"], 2),
]


def pct_rows(n: int = 62, edit=None) -> str:
    rows = PCT_FIXTURE.read_text().splitlines()
    header, body = rows[0], rows[1 : n + 1]
    if edit:
        body = edit(body)
    return "\n".join([header, *body]) + "\n"


def pct(name: str, content, extra=()):
    argv = ["compass", "--model", "{model}", "--source", "pct", "--pct-file", "{tmp}/pct.csv", "--out", "{out}", *extra]
    return case(f"PCT file: {name}", argv, 2, write("pct.csv", content))


PCTS = [
    pct("empty", ""),
    pct("header only", "pct_id,pct_prompt,pct_note\n"),
    pct("missing column", pct_rows().replace("pct_note", "note", 1)),
    pct("61 rows", pct_rows(61)),
    pct("63 rows", pct_rows() + "pc-63,One more proposition of ours.,extra\n"),
    pct("duplicate id", pct_rows(edit=lambda b: [b[0], b[0].replace("Morning", "Evening"), *b[2:]])),
    pct("ids out of order", pct_rows(edit=lambda b: [b[1], b[0], *b[2:]])),
    pct("id that is not a number", pct_rows(edit=lambda b: ["first," + b[0].split(",", 1)[1], *b[1:]])),
    pct("empty proposition", pct_rows(edit=lambda b: ["pc-01,,walking", *b[1:]])),
    pct("a 200 KB field", "pct_id,pct_prompt,pct_note\npc-01," + "x" * 200_000 + ",\n"),
    pct("a quote never closed", pct_rows().replace("Morning", "\"Morning", 1)),
    pct("not UTF-8", b"pct_id,pct_prompt,pct_note\npc-01,caf\xe9,x\n"),
    pct("too many fields", pct_rows(edit=lambda b: [b[0] + ",extra", *b[1:]])),
    case("PCT file: no such file", ["compass", "--model", "{model}", "--source", "pct", "--pct-file", "{tmp}/nope.csv"], 2),
    case("PCT file: --pct-file without --source pct", ["compass", "--model", "{model}", "--pct-file", "{tmp}/x.csv"], 2),
    case("PCT file: --source pct without a file", ["compass", "--model", "{model}", "--source", "pct"], 2),
]

CHAT = {"messages": [{"role": "user", "content": "Favourite colour?"}, {"role": "assistant", "content": "Green."}]}


def data(name: str, content, command=("control",)):
    argv = ["train", *command, "--model", "{model}", "--data", "{tmp}/data.jsonl", "--out", "{tmp}/adapter"]
    return case(f"training data: {name}", argv, 2, write("data.jsonl", content))


def chat(*turns) -> str:
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]}) + "\n"


TRAINING = [
    data("invalid JSON", "{oops\n"),
    data("5000-digit integer", json.dumps(CHAT)[:-1] + ', "n": ' + "9" * 5000 + "}\n"),
    data("100k nested brackets", "[" * 100_000 + "\n"),
    data("lone surrogate", chat(("user", "hi"), ("assistant", "ok")).replace("ok", "o\\ud800k")),
    data("no messages", '{"messages": []}\n'),
    data("two user turns in a row", chat(("user", "a"), ("user", "b"), ("assistant", "c"))),
    data("no assistant turn", chat(("user", "a"))),
    data("empty content", chat(("user", ""), ("assistant", "x"))),
    data("unknown role", chat(("user", "a"), ("bot", "b"))),
    data("preference data for SFT", json.dumps({"prompt": "a", "chosen": "b", "rejected": "c"}) + "\n"),
    data("chosen equals rejected (DPO)", json.dumps({"prompt": "a", "chosen": "b", "rejected": "b"}) + "\n",
         command=("ideology", "--method", "dpo")),
    case("training data: no such file", ["train", "control", "--model", "{model}", "--data", "{tmp}/nope.jsonl", "--out", "{tmp}/a"], 2),
]


def adapter(name: str, damage, code: int = 2):
    def setup(ws):
        target = Path(ws["tmp"]) / "adapter"
        shutil.copytree(ws["adapter"], target)
        damage(target)
    return case(f"adapter: {name}", ["eval", "--model", "{model}", "--bank", "terry9", "--adapter", "{tmp}/adapter", "--out", "{out}"],
                code, setup)


def weights(d: Path) -> Path:
    return d / "adapter_model.safetensors"


ADAPTERS = [
    adapter("random weights", lambda d: weights(d).write_bytes(bytes(range(256)) * 40)),
    adapter("truncated weights", lambda d: weights(d).write_bytes(weights(d).read_bytes()[:300])),
    adapter("weights cut at the end", lambda d: weights(d).write_bytes(weights(d).read_bytes()[:-64])),
    adapter("empty weights", lambda d: weights(d).write_bytes(b"")),
    adapter("no weights", lambda d: weights(d).unlink()),
    adapter("config is a list", lambda d: (d / "adapter_config.json").write_text("[]")),
    adapter("config is not JSON", lambda d: (d / "adapter_config.json").write_text("{")),
    adapter("config without peft_type", lambda d: (d / "adapter_config.json").write_text('{"r": 4}')),
    adapter("no config", lambda d: (d / "adapter_config.json").unlink()),
    adapter("an empty folder", lambda d: [p.unlink() for p in d.iterdir()]),
    adapter("for another architecture", lambda d: (d / "adapter_config.json").write_text(
        (d / "adapter_config.json").read_text().replace('"r": 4', '"r": 5'))),
    adapter("intact (control case)", lambda d: None, code=0),
    case("adapter: no such folder", ["eval", "--model", "{model}", "--adapter", "{tmp}/nowhere", "--out", "{out}"], 2),
    case("adapter: a file", ["eval", "--model", "{model}", "--adapter", "{tmp}/file", "--out", "{out}"], 2, write("file", "x")),
    case("adapter: name 'base' is reserved", ["eval", "--model", "{model}", "--adapter", "base={tmp}/a", "--out", "{out}"], 2),
]

CASES = BANKS + PCTS + TRAINING + ADAPTERS
