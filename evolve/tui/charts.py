"""Charts drawn with characters: best score over evaluations, and a scatter for the Pareto front.

Plain functions that return lines of text, so the app, `evolve status` and the
tests all see the same picture.
"""
from __future__ import annotations

import math
from typing import Sequence

BARS = " ▁▂▃▄▅▆▇█"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _span(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(hi) * 0.05 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def step_chart(values: Sequence[float | None], width: int = 60, height: int = 10,
               title: str = "best score over evaluations") -> list[str]:
    """A filled column chart of a non-decreasing series (None = nothing scored yet), with a y axis."""
    known = [v for v in values if v is not None]
    if not known:
        return [title, "(nothing scored yet)"]
    width = max(10, width - 11)
    lo, hi = _span(known)
    n = len(values)
    # each column shows the value at the end of its share of evaluations
    ncols = min(width, n)
    cols = [values[min(n - 1, math.ceil((c + 1) * n / ncols) - 1)] for c in range(ncols)]
    levels = [None if v is None else (v - lo) / (hi - lo) * height for v in cols]
    lines = [title]
    for row in range(height - 1, -1, -1):
        label = _fmt(hi) if row == height - 1 else _fmt(lo) if row == 0 else ""
        cells = []
        for level in levels:
            if level is None:
                cells.append(" ")
                continue
            fill = level - row
            cells.append("█" if fill >= 1 else BARS[max(1 if row == 0 else 0, int(round(fill * 8)))] if fill > 0
                         else ("▁" if row == 0 else " "))
        lines.append(f"{label:>10}│" + "".join(cells))
    lines.append(" " * 10 + "└" + "─" * len(cols))
    room = len(cols) - 1 - len(str(n))
    axis = f"1{'evaluations':^{room}}{n}" if room >= 13 else f"1 .. {n} evaluations"
    lines.append(" " * 11 + axis)
    return lines


def scatter(points: Sequence[tuple[float, float]], marks: Sequence[str], width: int = 60, height: int = 16,
            xlabel: str = "x", ylabel: str = "y") -> list[str]:
    """A scatter of (x, y) points; later marks overwrite earlier ones in a shared cell."""
    if not points:
        return ["(no points to plot)"]
    width = max(10, width - 11)
    xlo, xhi = _span([p[0] for p in points])
    ylo, yhi = _span([p[1] for p in points])
    grid = [[" "] * width for _ in range(height)]
    for (x, y), mark in zip(points, marks):
        col = min(width - 1, int((x - xlo) / (xhi - xlo) * (width - 1) + 0.5))
        row = min(height - 1, int((y - ylo) / (yhi - ylo) * (height - 1) + 0.5))
        if grid[height - 1 - row][col] != "●":
            grid[height - 1 - row][col] = mark
    lines = [f"{ylabel} (up) against {xlabel} (right)"]
    for i, cells in enumerate(grid):
        label = _fmt(yhi) if i == 0 else _fmt(ylo) if i == height - 1 else ""
        lines.append(f"{label:>10}│" + "".join(cells))
    lines.append(" " * 10 + "└" + "─" * width)
    left, right = _fmt(xlo), _fmt(xhi)
    lines.append(" " * 11 + left + " " * max(1, width - len(left) - len(right)) + right)
    return lines


def pareto_chart(snapshot, width: int = 60, height: int = 16) -> list[str]:
    """The first two objectives of the scored programs; ● on the Pareto front, · behind it."""
    objectives = snapshot.objectives
    if len(objectives) < 2:
        return ["single objective: no Pareto front to plot"]
    ranks = snapshot.pareto_ranks()
    a, b = objectives[0].name, objectives[1].name
    pts, marks = [], []
    for pid, rank in sorted(ranks.items(), key=lambda kv: -kv[1]):  # front drawn last, on top
        m = snapshot.by_id[pid].metrics
        pts.append((float(m[a]), float(m[b])))
        marks.append("●" if rank == 0 else "·")
    front = sum(1 for r in ranks.values() if r == 0)
    lines = scatter(pts, marks, width, height, xlabel=f"{a} ({objectives[0].direction})",
                    ylabel=f"{b} ({objectives[1].direction})")
    return [f"Pareto front: {front} of {len(ranks)} scored programs (●)"] + lines
