"""Building the InhibitFT mask from a neuron file: the general set at top n%, the check that the file
was localised on the model being trained, and the probe prompts the mask measures drift on."""

from __future__ import annotations

from pathlib import Path

from ..errors import PolistanceError
from .contrast import by_layer, per_layer_counts
from .inhibit import InhibitMask
from .neuron_file import NeuronFile, file_sha256


def default_probes() -> list[str]:
    """The held-out localisation prompts of every topic (the bundled ideology data, ids 41 and up)."""
    from .localize import heldout_prompts

    return [t for texts in heldout_prompts().values() for t in texts]


def mask_from_neuron_file(nf: NeuronFile, top_percent: float, adapter: str | None = None, provenance: dict | None = None,
                          hold_activations: float = 0.0, probes: list[str] | None = None) -> InhibitMask:
    """An InhibitMask over the general neurons of a neuron file at ``top_percent``.

    With ``adapter`` the general set of that fine-tuned model; otherwise the file's only adapter,
    or (several adapters) the neurons general for every one of them. ``probes`` (prompt texts) are
    where the mask measures activation drift after training, at the file's probe positions.
    """
    names = list(nf.scores)
    if adapter is not None:
        general = nf.sets(adapter, top_percent).general
    elif len(names) == 1:
        adapter = names[0]
        general = nf.sets(adapter, top_percent).general
    else:
        general = nf.general_over_adapters(top_percent)
    info = {
        "top_percent": top_percent,
        "neuron_adapter": adapter or "intersection:" + ",".join(names),
        "neurons_general_per_layer": per_layer_counts(general, nf.layers, nf.width).tolist(),
        **(provenance or {}),
    }
    return InhibitMask(by_layer(general, nf.width), nf.site, info, shape=(nf.layers, nf.width),
                       hold_activations=hold_activations, probes=probes, probe_positions=nf.positions)


def _config_shape(model_path: str, site: str) -> tuple[int, int] | None:
    """(layers, neurons per layer) of ``site`` from a model's config, or None when it cannot be read."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError):
        return None  # loading the model itself will report this properly
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    layers = getattr(config, "num_hidden_layers", None)
    width = getattr(config, "hidden_size" if site == "mlp_out" else "intermediate_size", None)
    if not isinstance(layers, int) or not isinstance(width, int):
        return None
    return layers, width


def check_neuron_model(nf: NeuronFile, model: str, source: str | Path = "neuron file") -> None:
    """Refuse a neuron file localised on another base model than ``model`` (the model about to be trained).

    Compared: the layer count and width of the file's site against the model's config, and the
    weights hash recorded by ``polistance localize`` against the model's. When either side has no
    weights hash (e.g. a hub id that is not a local folder), the model names are compared instead.
    """
    from ..engine import models

    path = models.resolve(model)
    recorded = nf.model if isinstance(nf.model, dict) else {}
    shape = _config_shape(path, nf.site)
    if shape is not None and shape != (nf.layers, nf.width):
        raise PolistanceError(
            f"--inhibit {source}: localised on {recorded.get('model') or 'a model'} with {nf.layers} layers x {nf.width} "
            f"{nf.site} neurons, but --model {model} has {shape[0]} x {shape[1]}; localise on the model you train"
        )
    theirs, ours = recorded.get("weights_sha256"), models.weights_hash(path)
    if theirs and ours:
        same, what = theirs == ours, f"weights sha256 {theirs[:12]}... vs {ours[:12]}..."
    else:
        named = recorded.get("model")
        same, what = (named is None or str(named) == str(path)), f"model {named} vs {path}; no weights hash to compare"
    if not same:
        raise PolistanceError(
            f"--inhibit {source}: localised on {recorded.get('model') or 'another model'}, not on --model {model} "
            f"({path}): {what}. Neuron indices only carry over to the model they were found in; "
            f"run `polistance localize --model {model}` first"
        )


def load_inhibit_mask(file: str | Path, top_percent: float, site: str | None = None, adapter: str | None = None,
                      model: str | None = None, hold_activations: float = 0.0,
                      probes: list[str] | None = None) -> InhibitMask:
    """Read a neuron file and build the InhibitFT mask for its top ``top_percent``% general neurons.

    This is what ``polistance train ideology --inhibit FILE --inhibit-top N`` calls; the mask's
    ``describe()`` carries the file's path and sha256 and ``N`` into the adapter manifest. With
    ``model`` (the base model about to be trained) a file localised on another model is refused.
    ``hold_activations`` > 0 adds the activation penalty; ``probes`` (default: the held-out
    localisation prompts of every topic) are where the activation drift is measured after training.
    """
    path = Path(file)
    nf = NeuronFile.load(path)
    if site is not None and site != nf.site:
        raise PolistanceError(f"--inhibit {path}: the file holds site {nf.site!r} neurons, not {site!r}")
    if not 0 < float(top_percent) <= 100:
        raise PolistanceError(f"--inhibit-top {top_percent}: expected a percentage in (0, 100]")
    if model is not None:
        check_neuron_model(nf, model, path)
    mask = mask_from_neuron_file(
        nf,
        float(top_percent),
        adapter,
        {"neurons_file": str(path), "neurons_sha256": file_sha256(path), "neurons_model": nf.model},
        hold_activations=hold_activations,
        probes=default_probes() if probes is None else probes,
    )
    if not mask.neurons:  # refuse now, before a training run starts and prepares its output folder
        raise PolistanceError(
            f"--inhibit {path}: no general neurons at top {float(top_percent):g}% (the topics' top sets do not "
            "intersect); nothing to inhibit, try a larger --inhibit-top"
        )
    return mask
