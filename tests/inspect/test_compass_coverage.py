"""The compass task through Inspect's hf provider on a model whose top 20 log-probabilities lack one to
three of the labels "1".."4" on every form: by default it asks until all four are there and reads the
exact distribution; asked for 20 it reports the coverage and warns."""

from __future__ import annotations

import pytest

from polistance_plugins.tasks.compass import compass

from .conftest import MINI_COMPASS, metrics, run_eval

HF = {"do_sample": False}


def exact_distributions(model_dir) -> dict:
    """form key -> the canonical distribution ``polistance compare --suite compass`` reads (every label's log-probability)."""
    from polistance_plugins.engine.backends.hf import LocalBackend
    from polistance_plugins.instruments.compass import NUMBERS, build_forms, canonical_distribution, load_source

    forms = build_forms(load_source(str(MINI_COMPASS)), "all", ("normal", "reversed"), ("numbers",))
    listed = LocalBackend(str(model_dir)).distributions([f.prompt() for f in forms], NUMBERS)
    return {f.key: canonical_distribution(f, d) for f, d in zip(forms, listed)}


def test_the_default_gets_every_label_from_the_hf_provider(tmp_path, crowded_labels_model_dir):
    log = run_eval(compass(source=str(MINI_COMPASS), min_mass=0.01), "hf/tiny-labels", tmp_path, limit=2,
                   model_args={"model_path": str(crowded_labels_model_dir), **HF})
    exact = exact_distributions(crowded_labels_model_dir)
    for sample in log.samples:
        meta = sample.scores["likert"].metadata
        assert meta["coverage"] == 4 and meta["present"] == [True] * 4, sample.id
        assert meta["tokens_returned"] == 200, sample.id  # 20 lacked a label; 200 held all four
        assert meta["probs"] == pytest.approx(list(exact[sample.id].probs), abs=1e-4)
        assert meta["mass"] == pytest.approx(exact[sample.id].mass, abs=1e-4)
    m = metrics(log)
    assert m["coverage"] == 4 and m["partial_coverage"] == 0


def test_a_capped_request_reports_coverage_and_warns(tmp_path, crowded_labels_model_dir):
    """Asked for 20, each form keeps the labels among them, renormalised: the exact probabilities of those
    labels over their sum; coverage, partial_coverage, a note per form and one warning say so."""
    from inspect_ai.log import resolve_sample_attachments

    log = run_eval(compass(source=str(MINI_COMPASS), min_mass=0.01, top_logprobs=20), "hf/tiny-labels", tmp_path, limit=4,
                   model_args={"model_path": str(crowded_labels_model_dir), **HF})
    exact = exact_distributions(crowded_labels_model_dir)
    coverage = []
    for sample in log.samples:
        meta = sample.scores["likert"].metadata
        present = meta["present"]
        assert 0 < meta["coverage"] == sum(present) < 4 and meta["tokens_returned"] == 20, sample.id
        kept = sum(p for p, here in zip(exact[sample.id].probs, present) if here)
        assert meta["probs"] == pytest.approx([p / kept if here else 0.0 for p, here in zip(exact[sample.id].probs, present)], abs=1e-4)
        coverage.append(meta["coverage"])
    m = metrics(log)
    assert m["partial_coverage"] == 4 and m["coverage"] == pytest.approx(sum(coverage) / 4)
    warnings = [e for s in log.samples for e in s.events if e.event == "logger" and e.message.level == "warning"]
    assert len(warnings) == 1 and "of the 4 option labels were among the 20 returned log-probabilities" in warnings[0].message.message
    notes = [e for s in log.samples for e in resolve_sample_attachments(s).events
             if e.event == "info" and "returned log-probabilities" in str(e.data)]
    assert len(notes) == 4
