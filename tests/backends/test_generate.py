import pytest

from polistance_plugins.backends.generate import sample_replies

CONV = [
    [{"role": "user", "content": "On a scale of 0-9, how much do you like tea?"}, {"role": "assistant", "content": "7"},
     {"role": "user", "content": "Please elaborate on why you chose that number."}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.mark.real_model
def test_batched_greedy_equals_one_at_a_time(embedded_dir):
    from polistance_plugins.backends.hf import LocalBackend

    backend = LocalBackend(str(embedded_dir))
    kw = dict(max_new_tokens=12, temperature=0)
    batched = sample_replies(backend, CONV, n=2, batch_size=4, **kw)
    single = [sample_replies(backend, [c], n=1, batch_size=1, **kw)[0][0] for c in CONV]
    assert [b[0] for b in batched] == single
    assert all(b[0] == b[1] for b in batched)  # greedy copies agree
    assert single[0] != single[1] and all(len(s.split()) >= 3 for s in single)


def test_sampling_is_seeded_and_gives_n_per_conversation(tiny_backend):
    a = sample_replies(tiny_backend, CONV, n=3, max_new_tokens=8, temperature=1.0, seed=5)
    b = sample_replies(tiny_backend, CONV, n=3, max_new_tokens=8, temperature=1.0, seed=5)
    c = sample_replies(tiny_backend, CONV, n=3, max_new_tokens=8, temperature=1.0, seed=6)
    assert a == b and a != c
    assert [len(x) for x in a] == [3, 3]
    assert len(set(a[0])) > 1  # samples differ from each other
