"""Best score so far against evaluations (and against LLM dollars, when any were spent), one PNG per
problem: one line per arm (the median over its seeds) with a band from the worst to the best seed.

matplotlib is imported only here and only when drawing; without it the report says so and goes on.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from evolve.bench.results import RunResult


def available() -> str | None:
    """None when plots can be drawn, else why not (with the fix)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib); no plots were drawn"
    return None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def band(curves: list[list]) -> tuple[list[int], list, list, list]:
    """x (1-based), median, min and max over the curves; a curve that ended keeps its last value."""
    length = max((len(c) for c in curves), default=0)
    xs, mid, low, high = [], [], [], []
    for i in range(length):
        values = [c[min(i, len(c) - 1)] for c in curves if c and c[min(i, len(c) - 1)] is not None]
        xs.append(i + 1)
        mid.append(statistics.median(values) if values else float("nan"))
        low.append(min(values) if values else float("nan"))
        high.append(max(values) if values else float("nan"))
    return xs, mid, low, high


def at_cost(result: RunResult, grid: list[float]) -> list:
    """The run's best score once it had spent each amount of `grid` (its last best after its own total)."""
    out, i, best = [], 0, None
    for c in grid:
        while i < len(result.spend) and result.spend[i] <= c:
            best = result.curve[i] if result.curve[i] is not None else best
            i += 1
        out.append(best)
    return out


def _closed(xs: list, *series: list) -> tuple:
    """The series with their last value repeated one step further on: a step plot (`where="post"`) then
    draws the final step, which it would otherwise leave out."""
    if not xs:
        return (xs, *series)
    step = (xs[-1] - xs[0]) / 50 if len(xs) > 1 and xs[-1] > xs[0] else 1
    return ([*xs, xs[-1] + step], *([*s, s[-1]] for s in series))


def draw(problem: str, by_arm: dict[str, list[RunResult]], out: Path) -> dict[str, Path]:
    """Write `best_PROBLEM_evaluations.png` (and `best_PROBLEM_usd.png` when any run spent money)."""
    made = {"evaluations": _figure(out / f"best_{problem}_evaluations.png", "evaluations", problem, {
        arm: (len(results), _closed(*band([r.curve for r in results]))) for arm, results in by_arm.items()})}
    everyone = [r for results in by_arm.values() for r in results]
    if any(r.cost_usd > 0 for r in everyone):
        grid = sorted({0.0, *(c for r in everyone for c in r.spend)})
        made["usd"] = _figure(out / f"best_{problem}_usd.png", "LLM spend (USD)", problem, {
            arm: (len(results), _closed(grid, *band([at_cost(r, grid) for r in results])[1:]))
            for arm, results in by_arm.items()})
    return made


def _figure(path: Path, xlabel: str, problem: str, curves: dict[str, tuple[int, tuple]]) -> Path:
    """One plot: per arm (seeds, (xs, median, low, high)), a step line and its band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n, (arm, (seeds, (xs, mid, low, high))) in enumerate(curves.items()):
        ax.step(xs, mid, where="post", color=f"C{n}", label=f"{arm} (n={seeds})")
        ax.fill_between(xs, low, high, step="post", color=f"C{n}", alpha=0.2)
    ax.set(xlabel=xlabel, ylabel="best score so far (higher is better)",
           title=f"{problem}: median over seeds, band min-max")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
