"""Forced vs unforced compass answers (Röttger et al., "Political Compass or Spinning Arrow?"): each
proposition is also asked openly, the reply is sampled, and a grader sorts it into one of five
positions: the four Likert answers or "No position". This module holds the prompts, the strict text
parser and the per-model summary: how often the unforced answer matches the forced one, the compass
point of the unforced answers with its bootstrap interval, and the share of "No position".
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from ..core.compass import argmax_answer, compass_point
from ..core.compass_stability import bootstrap_interval, pool
from .compass import WORDS, CompassSource
from .compass_summary import form_answers

POSITIONS: tuple[str, ...] = (*WORDS, "No position")
"""The grader's options in canonical order: strongly disagree .. strongly agree (0-3), then no position (4)."""
NO_POSITION = len(POSITIONS) - 1
QUESTION = "unforced_question.j2"
JUDGE = "judge_unforced.j2"
SUITE = "compass_unforced"

_LABEL_RE = re.compile(r"^[\s\"'`*_\[(]*(strongly disagree|disagree|strongly agree|agree|no position)[\s\"'`*_\])]*\.?[\s\"'`*_\])]*$",
                       re.IGNORECASE)


def open_question(text: str) -> str:
    """The unforced question: the proposition, with no options."""
    from ..prompts import render

    return render(QUESTION, text=text)


def judge_prompt(statement: str, reply: str, mode: str = "logprob", positions: Sequence[str] = POSITIONS) -> str:
    """The grader's prompt: the statement, the open question and the fenced reply, with the
    ``positions`` numbered in the order given (label-order debiasing lists them in several orders)."""
    from ..prompts import fence_tag, render

    return render(JUDGE, statement=statement, question=open_question(statement).splitlines()[0], reply=reply,
                  fence=fence_tag(reply), mode=mode, positions=list(positions))


def parse_position(reply: str) -> int | None:
    """Index in ``POSITIONS`` of a reply that is one lone position name (text-mode graders), else None."""
    m = _LABEL_RE.match(reply or "")
    if not m:
        return None
    return [p.lower() for p in POSITIONS].index(m.group(1).lower())


def pooled_positions(records: Sequence[dict], n_propositions: int) -> list[list[float] | None]:
    """Per proposition, the mean graded distribution over ``POSITIONS`` of its graded replies (None
    when none was graded). Records carry ``index`` and ``grader_probs`` (a dict by position, or None)."""
    sums: list[list[float] | None] = [None] * n_propositions
    counts = [0] * n_propositions
    for r in records:
        probs = r.get("grader_probs")
        if not probs:
            continue
        i = r["index"]
        row = [float(probs[p]) for p in POSITIONS]
        sums[i] = row if sums[i] is None else [a + b for a, b in zip(sums[i], row)]
        counts[i] += 1
    return [None if s is None else [v / c for v in s] for s, c in zip(sums, counts)]


def top_positions(pooled: Sequence[Sequence[float] | None]) -> list[int | None]:
    """The most probable position of each pooled distribution (lowest index on ties; None = ungraded)."""
    return [None if p is None else max(range(len(POSITIONS)), key=lambda j: (p[j], -j)) for p in pooled]


def unforced_point(top: Sequence[int | None], weights, n_resamples: int = 2000, seed: int = 0) -> dict:
    """The compass point of the open answers ("No position" and ungraded count as unanswered) with
    its percentile bootstrap interval over propositions (``core.compass_stability``)."""
    answers = [None if t is None or t == NO_POSITION else t for t in top]
    point = compass_point(answers, weights)
    ci = bootstrap_interval(answers, weights, n_resamples=n_resamples, seed=seed)
    return {"answers": answers, "point": {"econ": point[0], "soc": point[1]}, "ci": {k: list(v) for k, v in ci.items()}}


def summarise_unforced(unforced: Sequence[dict], forced: Sequence[dict], source: CompassSource,
                       n_resamples: int = 2000, seed: int = 0) -> dict:
    """One model's unforced answers against its forced ones.

    Per proposition the unforced answer is the most probable position of the pooled graded
    distribution (None for "No position"); the forced answer is the argmax of the pooled in-format
    compass forms (``forced``: that model's compass records; may be empty). ``match`` is the share of
    propositions with both answers where they are the same Likert option."""
    n = len(source)
    pooled = pooled_positions(unforced, n)
    top = top_positions(pooled)
    located = unforced_point(top, source.weights, n_resamples, seed)
    answers = located["answers"]
    forced_answers = [argmax_answer(p) for p in pool(form_answers(forced), n)] if forced else [None] * n
    both = [(u, f) for u, f in zip(answers, forced_answers) if u is not None and f is not None]
    graded = [t for t in top if t is not None]
    forced_point = compass_point(forced_answers, source.weights) if forced else (math.nan, math.nan)
    return {
        "model": (unforced or forced or [{}])[0].get("model"),
        "source": source.name,
        "propositions": n,
        "replies": len(unforced),
        "replies_graded": sum(bool(r.get("grader_probs")) for r in unforced),
        "graded": len(graded),
        "with_position": sum(a is not None for a in answers),
        "no_position": sum(t == NO_POSITION for t in graded) / len(graded) if graded else math.nan,
        "no_position_mean_p": math.fsum(p[NO_POSITION] for p in pooled if p is not None) / len(graded) if graded else math.nan,
        "compared": len(both),
        "match": sum(u == f for u, f in both) / len(both) if both else math.nan,
        "unforced": located["point"],
        "unforced_ci": located["ci"],
        "forced_argmax": {"econ": forced_point[0], "soc": forced_point[1]},
        "answers": top,
        "forced_answers": forced_answers,
    }


def unforced_summaries(records: Sequence[dict], source: CompassSource, models: Sequence[str], n_resamples: int = 2000,
                       seed: int = 0) -> list[dict]:
    """Per model with unforced records (``suite`` = ``SUITE``): ``summarise_unforced`` against that
    model's forced compass records (the records with an option ``order``, of the compass suite), plus
    the grader's self-agreement across label orders on that model's replies (``order_kappa``,
    ``order_mean_tv``, ``label_orders``; NaN with one order) and ``grader_reliable`` (kappa at least
    ``KAPPA_THRESHOLD``)."""
    from ..core.kappa import KAPPA_THRESHOLD

    out = []
    for label in models:
        mine = [r for r in records if r.get("suite") == SUITE and r["model"] == label]
        if not mine:
            continue
        forced = [r for r in records if r.get("suite", "compass") == "compass" and r["model"] == label and "order" in r]
        summary = summarise_unforced(mine, forced, source, n_resamples=n_resamples, seed=seed)
        own = order_agreement_of(mine)
        kappa = own["kappa"] if own["n_orders"] >= 2 else math.nan
        summary.update(label_orders=own["n_orders"], order_kappa=kappa, order_mean_tv=own["mean_tv"],
                       grader_reliable=bool(kappa >= KAPPA_THRESHOLD))
        out.append(summary)
    return out


def order_agreement_of(records: Sequence[dict]) -> dict:
    """The grader's self-agreement across label orders over unforced records (``core.kappa``)."""
    from ..core.kappa import order_agreement

    graded = [r for r in records if r.get("suite") == SUITE and r.get("grader_order_labels")]
    labels = [[POSITIONS.index(x) if x in POSITIONS else None for x in r["grader_order_labels"]] for r in graded]
    return order_agreement(labels, [r["grader_order_probs"] for r in graded], len(POSITIONS))
