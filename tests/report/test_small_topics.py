"""Issue 14, point 7 in the report: a topic with fewer items than ``core.stats.MIN_INTERVAL_UNITS``
gets no interval in any table, in the HTML page or in the heatmap, and says so; a larger topic
keeps its interval. Answers are spread over two digits (weights 0.7 / 0.3), so the item values are
not exact binary fractions."""

import math
import re

import pytest

from polistance_plugins.core import Distribution
from polistance_plugins.core.stats import MIN_INTERVAL_UNITS
from polistance_plugins.instruments.questionnaire import Form, score_record
from polistance_plugins.report import figures
from polistance_plugins.report.build import build_report
from polistance_plugins.report.meta import meta_from_config

SMALL, LARGE = 2, 7  # items of topic "alpha" (below the minimum) and "beta" (above it)


def record(model: str, item: str, topic: str, direction: str, low: int, p_low: float) -> dict:
    """One form answered with ``p_low`` on digit ``low`` and the rest on ``low + 1``."""
    form = Form(item, topic, "statement", "right", 0, direction, f"claim {item}")
    probs = tuple(p_low if d == low else (1 - p_low if d == low + 1 else 0.0) for d in range(10))
    rec = {"key": f"{model}|bank|{form.key}", "model": model, "bank": "bank", "item_id": item, "topic": topic,
           "paraphrase": 0, "direction": direction, "keying": "right", "suite": "questionnaire"}
    rec.update(score_record(form, Distribution(probs, 0.9), min_mass=0.05))
    return rec


def records() -> list[dict]:
    out = []
    items = [(f"a{k}", "alpha") for k in range(SMALL)] + [(f"b{k}", "beta") for k in range(LARGE)]
    for n, (item, topic) in enumerate(items):
        for direction in ("normal", "reversed"):
            out.append(record("base", item, topic, direction, 4, 0.7))
            # normal: agreement 4.3 -> 5.3 + 0.1 k; reversed: 4.7 -> 5.7; item mean shift 1 + 0.05 k (k = n % 3)
            p_low = 0.7 - 0.1 * (n % 3) if direction == "normal" else 0.7
            out.append(record("tuned", item, topic, direction, 5 if direction == "normal" else 3, p_low))
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small-topics")
    config = {"kind": "compare", "reference": "base", "variants": [{"label": "base"}, {"label": "tuned"}],
              "options": {"suites": ["questionnaire"]}, "questionnaire": {"bank": {"bank": "bank"}}}
    import json

    recs = records()
    build_report(folder, recs, meta_from_config(config))
    results = json.loads((folder / "results.json").read_text())
    return folder, results


def test_tables_hold_no_interval_below_the_minimum(report):
    _, results = report
    assert MIN_INTERVAL_UNITS == 6
    shift = [r for r in results["tables"]["topic_shift"] if r["measure"] == "stance_shift"]
    alpha = next(r for r in shift if r["topic"] == "alpha")
    beta = next(r for r in shift if r["topic"] == "beta")
    assert alpha["n_items"] == SMALL and alpha["ci_low"] is None and alpha["ci_high"] is None
    assert alpha["interval"] == "none (fewer than 6 items: 2)"
    assert alpha["estimate"] == pytest.approx((1.0 + 1.05) / 2 * 2 / 9)  # right-keyed: stance = 2 * agreement / 9 - 1
    assert beta["n_items"] == LARGE and beta["ci_low"] < beta["estimate"] < beta["ci_high"]
    for name in ("entropy", "topic_shift"):
        small = [r for r in results["tables"][name] if r["topic"] == "alpha"]
        assert small and all(r["ci_low"] is None and r["interval"].startswith("none (fewer than 6") for r in small), name
    items = results["tables"].get("items") or []
    assert not items  # the per-item table is not in results.json; its CSV is checked below


def test_item_table_has_no_interval_from_two_forms(report):
    import pandas as pd

    folder, _ = report
    items = pd.read_csv(folder / "tables" / "items.csv")
    assert len(items) == SMALL + LARGE
    assert items["ci_low"].isna().all() and (items["interval"] == "none (fewer than 6 forms: 2)").all()


def test_the_page_says_no_interval_for_the_small_topic(report):
    folder, _ = report
    html = (folder / "report.html").read_text()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    topic_rows = [r for r in rows if 'title="n = ' in r]  # rows of the per-topic tables (their tooltips name n)
    stance_alpha = [r for r in topic_rows if ">alpha<" in r]
    assert stance_alpha and all("no interval (n &lt; 6)" in r for r in stance_alpha)
    assert not any(re.search(r"\[[+-]?\d", r) for r in stance_alpha)
    stance_beta = [r for r in topic_rows if ">beta<" in r]
    assert stance_beta and all(re.search(r"\[[+-]\d\.\d+, [+-]\d\.\d+\]", r) for r in stance_beta)
    assert "no interval below 6 items" in html


def test_heatmap_cells_say_no_interval():
    row = {"estimate": 0.0777, "significance": "", "ci_low": math.nan, "ci_high": math.nan, "n_items": 2}
    assert figures.cell_note(row) == "+0.08\nn=2, no interval"
    row.update(ci_low=0.01, ci_high=0.2)
    assert figures.cell_note(row) == "+0.08\n[+0.01, +0.20]"
