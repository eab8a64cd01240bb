"""Prefix sharing: prompts that start with the same tokens (the system prompt, then the scale wording;
a judge prompt's instructions; a context scored with each of its answer options) have that prefix
computed once per batch, and its KV cache is copied to every row that starts with it.

A batch is split into groups of rows with a common prefix (``plan_groups``, pure); the prefixes go
through the model in one left-padded pass, and each row's own tokens in a second pass that attends
to its group's cache (``forward_grouped``). Same log-probabilities as computing every row in full,
up to float rounding (tests hold it within 1e-4).
"""

from __future__ import annotations

from typing import Sequence

MIN_SAVED_TOKENS = 32
"""A batch that would reuse fewer prompt tokens than this is computed the plain way."""
GROUP_OVERHEAD = 8
"""The planning cost, in tokens, of one more group (one more row in the prefix pass)."""


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all sequences share, leaving every sequence at least one of its own."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for i in range(max(n, 0)):
        if any(s[i] != first[i] for s in seqs):
            return i
    return max(n, 0)


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def sharing_order(seqs: Sequence[Sequence[int]], lengths: Sequence[int], batch_size: int) -> list[int]:
    """An order of the rows for batches of ``batch_size`` that share the longest prefixes and need
    little padding (pure; deterministic).

    Rows are sorted by their tokens, so rows with a common start sit together. Each row's *family*
    is the longest prefix it shares with enough rows to fill a batch (the best window of
    ``batch_size`` neighbours in that order); families stay together, and within a family rows go
    by ``lengths`` (the part of the row that may be shared: its context), so a batch's rows have
    similar lengths and the options of one context sit side by side.
    """
    n = len(seqs)
    order = sorted(range(n), key=lambda i: (list(seqs[i]), i))
    if n <= 1:
        return order
    ranked = [seqs[i] for i in order]
    adjacent = [_shared(ranked[k], ranked[k + 1]) for k in range(n - 1)]
    width = min(batch_size, n)
    window_lcp = [min(adjacent[s:s + width - 1], default=min(len(r) for r in ranked)) for s in range(n - width + 1)]
    family = []
    for k in range(n):
        starts = range(max(0, k - width + 1), min(k, n - width) + 1)
        family.append(max(window_lcp[s] for s in starts))
    keyed = sorted(range(n), key=lambda k: (list(ranked[k][:family[k]]), lengths[order[k]], list(ranked[k]), order[k]))
    return [order[k] for k in keyed]


def plan_groups(seqs: Sequence[Sequence[int]], caps: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Split a batch into runs of consecutive rows that share a prefix: ``[(prefix_length, rows)]``.

    ``caps[r]`` is the longest prefix row ``r`` may give up (its last tokens must be computed in
    the row pass, where their log-probabilities are read). Rows should come sorted by their tokens
    so that rows with a common start sit together. The split maximises the prompt tokens reused,
    ``sum((len(group) - 1) * prefix)``, less ``GROUP_OVERHEAD`` per group (dynamic programming over
    the contiguous splits; batches are small). A row alone keeps its whole capped prefix.
    """
    n = len(seqs)
    if n == 0:
        return []
    adjacent = [_shared(seqs[i], seqs[i + 1]) for i in range(n - 1)]
    best = [0.0] + [float("-inf")] * n
    cut = [0] * (n + 1)
    for j in range(n):  # group seqs[i..j]
        p = caps[j]
        for i in range(j, -1, -1):
            if i < j:
                p = min(p, adjacent[i], caps[i])
                if p < 1:  # rows that share nothing are not a group
                    break
            gain = best[i] + (j - i) * p - GROUP_OVERHEAD
            if gain > best[j + 1]:
                best[j + 1], cut[j + 1] = gain, i
    groups: list[tuple[int, list[int]]] = []
    j = n
    while j > 0:
        i = cut[j]
        rows = list(range(i, j))
        p = min(caps[r] for r in rows)
        for r in rows[:-1]:
            p = min(p, adjacent[r])
        groups.append((p, rows))
        j = i
    return groups[::-1]


def saved_tokens(groups: Sequence[tuple[int, Sequence[int]]]) -> int:
    """Prompt tokens not recomputed under a plan: each group computes its prefix once."""
    return sum((len(rows) - 1) * p for p, rows in groups)


def forward_grouped(net, seqs: Sequence[Sequence[int]], groups: Sequence[tuple[int, Sequence[int]]], keep: int,
                    pad_id: int, device):
    """Logits at the last ``keep`` positions of every row (in ``seqs`` order), each group's prefix
    computed once. Every group's prefix must be at least one token, and every row must keep at
    least ``keep`` tokens of its own."""
    import torch

    n_groups = len(groups)
    width_prefix = max(p for p, _ in groups)
    prefix_ids = torch.full((n_groups, width_prefix), pad_id, dtype=torch.long)
    prefix_mask = torch.zeros((n_groups, width_prefix), dtype=torch.long)
    group_of = [0] * len(seqs)
    start_of = [0] * len(seqs)
    for g, (p, rows) in enumerate(groups):
        prefix_ids[g, width_prefix - p:] = torch.tensor(list(seqs[rows[0]][:p]), dtype=torch.long)
        prefix_mask[g, width_prefix - p:] = 1
        for r in rows:
            group_of[r], start_of[r] = g, p
    width_own = max(len(s) - start_of[r] for r, s in enumerate(seqs))
    ids = torch.full((len(seqs), width_own), pad_id, dtype=torch.long)
    own_mask = torch.zeros((len(seqs), width_own), dtype=torch.long)
    for r, s in enumerate(seqs):
        own = list(s[start_of[r]:])
        ids[r, width_own - len(own):] = torch.tensor(own, dtype=torch.long)
        own_mask[r, width_own - len(own):] = 1
    index = torch.tensor(group_of, dtype=torch.long)
    starts = torch.tensor(start_of, dtype=torch.long)[:, None]
    mask = torch.cat([prefix_mask.index_select(0, index), own_mask], dim=1)
    positions = starts + (own_mask.cumsum(-1) - 1).clamp(min=0)
    prefix_positions = (prefix_mask.cumsum(-1) - 1).clamp(min=0)
    name = cache_argument(net)
    with torch.inference_mode():
        first = net(input_ids=prefix_ids.to(device), attention_mask=prefix_mask.to(device),
                    position_ids=prefix_positions.to(device), logits_to_keep=1, use_cache=True)
        cache = getattr(first, "cache", None)
        if cache is None:
            cache = first.past_key_values
        cache.batch_select_indices(index.to(device))
        out = net(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                  logits_to_keep=keep, use_cache=True, **{name: cache})
    return out.logits


def cache_argument(net) -> str:
    """The forward's name for a KV cache: ``cache`` (transformers 5.x) or ``past_key_values`` (4.x,
    deprecated in 5.x with a FutureWarning). Read from the model's class, so that a wrapper put on
    one instance's ``forward`` (a hook, a test double) does not hide the current name."""
    import inspect

    model = net.get_base_model() if hasattr(net, "get_base_model") else net
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"
