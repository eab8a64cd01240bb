"""compare's report draws the trajectory of every adapter folder that holds one."""

from __future__ import annotations

import json

from polistance_plugins.report.build import build_report
from polistance_plugins.report.meta import meta_from_config
from polistance_plugins.train.trajectory import write_trajectory

from .test_report_reliability import stuck_records


def row(step, topic, stance):
    return {"step": step, "bank": "terry9", "topic": topic, "n_forms": 9, "n_ok": 9, "stance": stance,
            "agreement": 0.5, "wasserstein1": 0.1 * step, "digit_mass": 0.9, "loss": float("nan") if step == 0 else 2.0 / step}


def test_adapters_with_a_trajectory_get_a_figure_and_table_rows(tmp_path):
    tracked, plain = tmp_path / "tracked", tmp_path / "plain"
    plain.mkdir()
    write_trajectory(tracked, [row(s, t, 0.1 * s) for s in (0, 4, 8) for t in ("all", "immigration")])
    config = {"kind": "compare", "reference": "base", "options": {"suites": ["elaboration"]},
              "variants": [{"label": "base", "adapter": None}, {"label": "south", "adapter": str(tracked)},
                           {"label": "ctl", "adapter": str(plain)}]}
    report = tmp_path / "report"
    html = build_report(report, stuck_records(), meta_from_config(config)).read_text()
    assert 'id="trajectory"' in html and "figures/trajectory_south.png" in html and "trajectory_ctl" not in html
    assert "at steps 0, 4, 8 (step 0 = the base model)" in html
    assert (report / "figures" / "trajectory_south.png").read_bytes()[:4] == b"\x89PNG"
    table = json.loads((report / "results.json").read_text())["tables"]["trajectory"]
    assert [(r["model"], r["step"], r["topic"], r["stance"]) for r in table][:2] == [("south", 0, "all", 0.0), ("south", 0, "immigration", 0.0)]
    assert len(table) == 6 and table[-1]["wasserstein1"] == 0.8
