"""PNLAC localisation: contrast the base model and each fine-tuned adapter on every evaluation
topic's prompts, and collect the per-neuron RMS differences into a :class:`NeuronFile`.

Per topic the base model runs once over the topic's prompts with every activation recorded; each
adapter then runs over the same batches while an accumulator adds up its squared differences at
the selected tokens (by default the prompt's own text, not the chat template: see ``positions``).
Cost: (1 + adapters) forward passes over the prompts, whatever the number of neurons.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, ContextManager, Mapping, Sequence

import numpy as np

from ..errors import PolistanceError
from .capture import ContrastAccumulator, Recorder, run_forwards, selection_masks, site_shape
from .contrast import DEFAULT_RANKING, check_ranking
from .neuron_file import NeuronFile
from .positions import DEFAULT_POSITIONS, Probe, check_positions, encode_probes

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


def contrast_runs(net, probes: Sequence[Probe], site: str, batch_size: int, pad_id: int,
                  base: Callable[[], ContextManager], tuned: Mapping[str, Callable[[], ContextManager]],
                  progress=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Contrast ``net`` in each of the ``tuned`` states (context factories, e.g. an adapter switched
    on) with its ``base`` state over the probes' selected tokens.

    Returns ``(scores, layer_scale)``: per tuned state every neuron's RMS difference, and the base
    activation RMS of each layer over the same tokens.
    """
    layers, width = site_shape(net, site)
    seqs = [p.ids for p in probes]
    select = selection_masks(seqs, [p.selected for p in probes], batch_size)
    reference = Recorder()
    with base(), reference.attach(net, site):
        run_forwards(net, seqs, batch_size, pad_id)
    scores, scale = {}, np.zeros(layers)
    for name, state in tuned.items():
        acc = ContrastAccumulator(reference, layers, width, select)
        with state(), acc.attach(net, site):
            run_forwards(net, seqs, batch_size, pad_id)
        scores[name], scale = acc.scores(), acc.layer_scale()
        if progress:
            progress(1)
    return scores, scale


def contrast_scores(
    backend, adapters: Sequence[str], prompts_by_topic: Mapping[str, Sequence[str]], site: str, progress=None,
    positions: str = DEFAULT_POSITIONS,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """``(scores, layer_scale)``: ``scores[adapter][topic]`` is the RMS activation difference
    (adapter vs base) of every neuron over the probe tokens ``positions`` selects, and
    ``layer_scale[topic]`` the base activation RMS of each layer over the same tokens.

    ``adapters`` are names already loaded into ``backend``.
    """
    scores: dict[str, dict] = {a: {} for a in adapters}
    layer_scale: dict[str, np.ndarray] = {}
    for topic, texts in prompts_by_topic.items():
        probes = encode_probes(backend.tokenizer, texts, positions, backend.system_prompt)
        found, layer_scale[topic] = contrast_runs(
            backend.net, probes, site, backend.settle_batch_size([p.ids for p in probes]), backend.tokenizer.pad_token_id,
            lambda: backend.use(None),
            {name: (lambda n=name: backend.use(n)) for name in adapters}, progress)
        for name in adapters:
            scores[name][topic] = found[name]
    return scores, layer_scale


def localize(
    backend,
    adapters: Mapping[str, str],
    prompts_by_topic: Mapping[str, Sequence[str]],
    site: str = "mlp_out",
    top_k: float = 5.0,
    prompt_source: dict | None = None,
    adapter_topics: Mapping[str, str] | None = None,
    progress=None,
    positions: str = DEFAULT_POSITIONS,
    ranking: str = DEFAULT_RANKING,
) -> NeuronFile:
    """Load ``adapters`` (name -> folder) into ``backend``, contrast each on every topic, return the file.

    ``positions`` chooses the probe tokens contrasted (``positions.POSITIONS``) and ``ranking``
    how the file's sets rank neurons across layers (``contrast.RANKINGS``).
    """
    from ..engine.variants import adapter_hash

    check_positions(positions)
    check_ranking(ranking)
    for name, path in adapters.items():
        if name not in backend.adapters:
            backend.load_adapter(name, path)
    layers, width = site_shape(backend.net, site)
    scores, layer_scale = contrast_scores(backend, list(adapters), prompts_by_topic, site, progress, positions)
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
        layer_scale=layer_scale,
        positions=positions,
        ranking=ranking,
    )
