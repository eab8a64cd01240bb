"""The training trajectories of a report's adapters: every adapter folder that holds a
``trajectory.csv`` (``polistance train ... --track``) gets its figure and its rows in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..train.trajectory import COLUMNS, plot_trajectory, read_trajectory


def trajectory_section(meta: dict, figures_dir: Path) -> tuple[pd.DataFrame, list[dict]] | None:
    """(rows of every adapter with a trajectory, labelled by model; figure entries for the page) or
    None when no adapter has one. Figures go to ``figures_dir/trajectory_<model>.png``."""
    rows, figs = [], []
    for label, path in (meta.get("adapters") or {}).items():
        traj = read_trajectory(path) if path and Path(path).is_dir() else None
        if not traj:
            continue
        rows += [{"model": label, **r} for r in traj]
        name = "trajectory_" + re.sub(r"[^A-Za-z0-9_.-]+", "-", label) + ".png"
        plot_trajectory(traj, figures_dir / name, title=f"Stance during training: {label}")
        steps = sorted({r["step"] for r in traj})
        figs.append({"section": "trajectory", "path": f"{figures_dir.name}/{name}", "title": f"Training trajectory: {label}",
                     "caption": f"{label}: keyed stance per topic (black: all topics) scored on the model while it trained, at steps "
                                f"{', '.join(map(str, steps))} (step 0 = the base model); dashed: training loss; below: mean "
                                "Wasserstein-1 distance of the digit distributions from the base's. From the adapter's trajectory.csv."})
    if not rows:
        return None
    return pd.DataFrame(rows, columns=["model", *COLUMNS]), figs
