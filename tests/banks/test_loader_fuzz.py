"""Random JSON thrown at the bank loader: it loads valid data or raises BankError, nothing else."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from polistance_plugins import BankError, load_bank

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)), max_leaves=10)
fields = st.sampled_from(["id", "topic", "kind", "text", "paraphrases", "scale", "keying", "source", "extra"])
near_items = st.dictionaries(fields, st.one_of(values, st.sampled_from(["statement", "question", "open", "0-9", "left", "right", "a-1", "science"]), st.lists(st.text(min_size=1, max_size=10), max_size=4)), max_size=8)
lines = st.lists(st.one_of(near_items.map(json.dumps), values.map(json.dumps), st.text(max_size=30)), min_size=0, max_size=5)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(lines)
def test_loader_accepts_valid_or_raises_bank_error(tmp_path, rows):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(rows), encoding="utf-8", errors="surrogatepass") if all(
        not any(0xD800 <= ord(ch) <= 0xDFFF for ch in r) for r in rows
    ) else path.write_bytes(b"\xff\xfe")
    try:
        bank = load_bank(path)
    except BankError as e:
        assert str(path) in str(e)
    else:
        assert len(bank) >= 1
        for item in bank:
            assert item.wordings and all(isinstance(w, str) and w.strip() for w in item.wordings)
