"""PNLAC localisation: contrast the base model and each fine-tuned adapter on every evaluation
topic's prompts, and collect the per-neuron RMS differences into a :class:`NeuronFile`.

Per topic the base model runs once over the topic's prompts with every activation recorded; each
adapter then runs over the same batches while an accumulator adds up its squared differences at
real (non-padding) tokens. Cost: (1 + adapters) forward passes over the prompts, whatever the
number of neurons.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import PolistanceError
from .capture import ContrastAccumulator, Recorder, encode_prompts, forward_batches, site_shape
from .contrast import NeuronFile

IDEOLOGY_DATA = Path(__file__).resolve().parent.parent / "train" / "data" / "ideology.jsonl"
FIRST_HELDOUT = 41
_ID_NUMBER = re.compile(r"i(\d+)$")


def heldout_prompts(path: str | Path = IDEOLOGY_DATA, first_heldout: int = FIRST_HELDOUT) -> dict[str, list[str]]:
    """Held-out instructions per topic (ids numbered ``first_heldout`` and up): the localisation prompts."""
    path = Path(path)
    if not path.is_file():
        raise PolistanceError(f"{path}: no such file (the ideology training data)")
    out: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            m = _ID_NUMBER.search(row["id"])
            topic, instruction = row["topic"], row["instruction"]
        except (ValueError, KeyError, TypeError) as e:
            raise PolistanceError(f"{path}:{lineno}: expected a JSON object with id, topic, instruction ({e})") from None
        if not m:
            raise PolistanceError(f"{path}:{lineno}: field 'id' {row['id']!r} does not end in i<number>")
        if int(m.group(1)) >= first_heldout:
            out.setdefault(topic, []).append(instruction)
    if not out:
        raise PolistanceError(f"{path}: no held-out items (ids numbered {first_heldout} or more)")
    return out


def contrast_scores(
    backend, adapters: Sequence[str], prompts_by_topic: Mapping[str, Sequence[str]], site: str, progress=None
) -> dict[str, dict]:
    """``scores[adapter][topic]``: RMS activation difference (adapter vs base) of every neuron.

    ``adapters`` are names already loaded into ``backend``.
    """
    layers, width = site_shape(backend.net, site)
    scores: dict[str, dict] = {a: {} for a in adapters}
    for topic, texts in prompts_by_topic.items():
        seqs = encode_prompts(backend, texts)
        reference = Recorder()
        with backend.use(None), reference.attach(backend.net, site):
            forward_batches(backend, seqs)
        for name in adapters:
            acc = ContrastAccumulator(reference, layers, width)
            with backend.use(name), acc.attach(backend.net, site):
                forward_batches(backend, seqs)
            scores[name][topic] = acc.scores()
            if progress:
                progress(1)
        del reference
    return scores


def localize(
    backend,
    adapters: Mapping[str, str],
    prompts_by_topic: Mapping[str, Sequence[str]],
    site: str = "mlp_out",
    top_k: float = 5.0,
    prompt_source: dict | None = None,
    adapter_topics: Mapping[str, str] | None = None,
    progress=None,
) -> NeuronFile:
    """Load ``adapters`` (name -> folder) into ``backend``, contrast each on every topic, return the file."""
    from ..engine.variants import adapter_hash

    for name, path in adapters.items():
        if name not in backend.adapters:
            backend.load_adapter(name, path)
    layers, width = site_shape(backend.net, site)
    scores = contrast_scores(backend, list(adapters), prompts_by_topic, site, progress)
    return NeuronFile(
        site=site,
        layers=layers,
        width=width,
        topics=list(prompts_by_topic),
        top_k=float(top_k),
        model=backend.describe(),
        adapters={
            name: {"path": str(Path(p).resolve()), "sha256": adapter_hash(p), "topic": (adapter_topics or {}).get(name)}
            for name, p in adapters.items()
        },
        prompt_source=dict(prompt_source or {}, prompts_per_topic={t: len(v) for t, v in prompts_by_topic.items()}),
        scores=scores,
    )
