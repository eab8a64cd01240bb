"""Random JSON thrown at the training-data loader: valid data loads, anything else raises PolistanceError."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from polistance_plugins.errors import PolistanceError
from polistance_plugins.train.datasets import user_dataset

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)), max_leaves=8)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "bot"]), "content": st.one_of(st.text(max_size=10), values)})
chat = st.fixed_dictionaries({"messages": st.lists(message, max_size=3)})
pref = st.dictionaries(st.sampled_from(["prompt", "chosen", "rejected", "extra"]), st.one_of(st.text(max_size=10), values), max_size=4)
line = st.one_of(chat.map(json.dumps), pref.map(json.dumps), values.map(json.dumps), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(line, max_size=4), st.sampled_from(["sft", "dpo"]))
def test_user_data_loads_or_raises_polistance_error(tmp_path, rows, method):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(rows), encoding="utf-8")
    try:
        data = user_dataset(path, method)
    except PolistanceError as e:
        assert str(path.name) in str(e) or "--data" in str(e)
    else:
        assert len(data.rows) >= 1
