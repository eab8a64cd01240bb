"""PNLAC political-neuron localisation, activation patching and InhibitFT.

- ``contrast``: pure set algebra and the neuron file (no torch);
- ``capture``: forward hooks that record, contrast or replace MLP activations in batched passes;
- ``localize``: base vs fine-tuned contrast over each topic's prompts -> neuron file;
- ``patching``: base model with chosen neurons patched from the fine-tuned model, scored on digits;
- ``positions``: which probe tokens enter the contrast (the probe's own text by default);
- ``neuron_file``: the saved scores, settings and sets;
- ``inhibit``: the InhibitFT gradient mask handed to the training module (``inhibit_load``: from a file);
- ``anchor``: the optional penalty that holds the inhibited activations; ``drift``: how far they moved;
- ``metrics``: s(T, t), cross-topic generalisation, reduction and retention with bootstrap intervals;
- ``figures``: neurons per layer, and s(T, t) heatmaps;
- ``study``: the whole ``inhibitft-study`` pipeline.
"""

__all__ = ["load_inhibit_mask"]


def __getattr__(name):
    # Imported lazily so that ``import polistance_plugins.neurons`` does not pull in torch.
    if name == "load_inhibit_mask":
        from .inhibit_load import load_inhibit_mask

        return load_inhibit_mask
    raise AttributeError(name)
