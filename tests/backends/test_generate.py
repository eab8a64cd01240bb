import pytest

from polistance_plugins.engine.backends.generate import sample_replies

CONV = [
    [{"role": "user", "content": "On a scale of 0-9, how much do you like tea?"}, {"role": "assistant", "content": "7"},
     {"role": "user", "content": "Please elaborate on why you chose that number."}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.mark.real_model
def test_batched_greedy_equals_one_at_a_time(embedded_dir):
    from polistance_plugins.engine.backends.hf import LocalBackend

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


def test_reply_lengths_stop_at_the_first_end_of_sequence():
    import torch

    from polistance_plugins.engine.backends.generate import reply_lengths

    eos = 2
    rows = torch.tensor([[5, 6, 2, 2, 2], [5, 6, 7, 8, 9], [2, 2, 2, 2, 2]])
    assert reply_lengths(rows, eos) == 3 + 5 + 1


def test_stats_count_the_generated_tokens(tiny_backend):
    stats: dict = {}
    replies = sample_replies(tiny_backend, CONV, n=2, max_new_tokens=6, temperature=1.0, seed=1, stats=stats)
    assert len(replies) == 2
    # a random tiny model rarely emits its end token: between 1 and 6 tokens per reply, 4 replies
    assert 4 <= stats["generated_tokens"] <= 24
    sample_replies(tiny_backend, CONV[:1], n=1, max_new_tokens=6, temperature=1.0, seed=1, stats=stats)
    assert stats["generated_tokens"] >= 5  # accumulates
