import pytest

from polistance_plugins.neurons.metrics import item_shifts



def _records(model, stances):
    """stances: {item_id: (topic, [form stances])}; None marks an off-format form."""
    rows = []
    for item, (topic, values) in stances.items():
        for v in values:
            rows.append({"model": model, "item_id": item, "topic": topic,
                         "stance": v, "status": "ok" if v is not None else "off_format"})
    return rows


def test_item_shifts_average_forms_and_skip_off_format():
    recs = _records("base", {"i1": ("a", [0.0, 0.2]), "i2": ("b", [0.5, None])})
    recs += _records("T", {"i1": ("a", [0.4, 0.6]), "i2": ("b", [None, None])})
    sh = item_shifts(recs, "T")
    assert list(sh.index) == ["i1"]  # i2 has no in-format answer from T
    assert sh.loc["i1", "shift"] == pytest.approx(0.4)


def test_agreement_reads_reversed_forms_backwards():
    # Issue 14 point 3. Each item is asked on the normal scale and on the reversed one (0 and 9 swap
    # meaning). The adapter agrees exactly 1 point more on both: normal E 4 -> 5, reversed E 5 -> 4.
    # Averaging raw expected digits would show 0; reading reversed forms as 9 - E shows +1.
    rows = []
    for model, normal, reversed_ in (("base", 4.0, 5.0), ("T", 5.0, 4.0)):
        for item, topic in (("i1", "a"), ("i2", "b")):
            for direction, e in (("normal", normal), ("reversed", reversed_)):
                rows.append({"model": model, "item_id": item, "topic": topic, "direction": direction,
                             "expected": e, "stance": 0.0, "status": "ok"})
    sh = item_shifts(rows, "T", value="expected")
    assert sh["shift"].tolist() == [1.0, 1.0]
    # the per-item level is the rating on the normal scale: (4 + (9 - 5)) / 2 = 4 for the base
    from polistance_plugins.neurons.metrics import item_stances

    assert item_stances(rows, "base", value="expected")["stance"].tolist() == [4.0, 4.0]
