"""The bench table: per problem and arm, what its seeds reached (over finished runs only), the
differences from published references, and a test of each pair of arms on each problem."""
from __future__ import annotations

from dataclasses import dataclass, field

from evolve.bench import references as refs
from evolve.bench import stats
from evolve.bench.manifest import Bench
from evolve.bench.results import RunResult

APPROX = 0.01  # a reference given rounded ("~0.93") is matched within this share of it


@dataclass
class VsReference:
    reference: refs.Reference
    ours: stats.Summary  # the metric of each seed's best program
    diff: float | None  # mean(ours) - reference
    relative: float | None  # diff / |reference|
    better: bool | None  # in the metric's direction (None: the metric is no objective, no value, or `within`)
    within: bool = False  # a rounded (approx) reference less than 1% away: no better or worse to claim


@dataclass
class Cell:
    problem: str
    arm: str
    results: list[RunResult]  # every seed's run, finished or not
    best: stats.Summary
    evaluations_to_best: stats.Summary
    cost_to_best: stats.Summary
    cost: stats.Summary
    duplicates_saved: stats.Summary
    partial_hits: stats.Summary  # hits re-measured for their costs only (kind: cost objectives)
    holdout: stats.Summary
    vs: list[VsReference] = field(default_factory=list)

    @property
    def finished(self) -> list[RunResult]:
        return [r for r in self.results if r.finished and r.best_score is not None]

    @property
    def unfinished(self) -> int:
        return len(self.results) - len(self.finished)


@dataclass
class Comparison:
    problem: str
    a: str
    b: str
    a_values: list[float]
    b_values: list[float]
    difference: stats.Difference | None
    test: stats.MannWhitney | None


@dataclass
class BenchTable:
    cells: list[Cell]
    comparisons: list[Comparison]
    directions: dict[str, dict[str, str]]  # problem -> objective -> max | min


def build(bench: Bench, results: list[RunResult]) -> BenchTable:
    directions: dict[str, dict[str, str]] = {}
    for r in results:
        directions.setdefault(r.problem, {}).update(r.directions)
    cells = []
    for problem in bench.problems():
        for arm in bench.arms():
            mine = [r for r in results if r.problem == problem and r.arm == arm]
            cells.append(_cell(problem, arm, mine, refs.for_problem(problem, bench.references),
                               directions.get(problem, {})))
    comparisons = [c for problem in bench.problems()
                   for c in _compare(problem, [x for x in cells if x.problem == problem])]
    return BenchTable(cells, comparisons, directions)


def _cell(problem: str, arm: str, mine: list[RunResult], references: list[refs.Reference],
          direction: dict[str, str]) -> Cell:
    done = [r for r in mine if r.finished and r.best_score is not None]
    cell = Cell(problem, arm, mine, stats.summarize([r.best_score for r in done]),
                stats.summarize([r.evaluations_to_best for r in done]),
                stats.summarize([r.cost_to_best for r in done]), stats.summarize([r.cost_usd for r in done]),
                stats.summarize([r.duplicates_saved for r in done]), stats.summarize([r.partial_hits for r in done]),
                stats.summarize([r.holdout_score for r in done]))
    for ref in references:
        ours = stats.summarize([r.best_metrics.get(ref.metric) for r in done
                                if isinstance(r.best_metrics.get(ref.metric), (int, float))])
        diff = None if ours.mean is None else ours.mean - ref.value
        relative = None if diff is None or ref.value == 0 else diff / abs(ref.value)
        sense = direction.get(ref.metric)
        within = ref.approx and relative is not None and abs(relative) < APPROX
        better = None if diff is None or sense is None or diff == 0 or within else (diff > 0) == (sense == "max")
        cell.vs.append(VsReference(ref, ours, diff, relative, better, within))
    return cell


def _compare(problem: str, cells: list[Cell]) -> list[Comparison]:
    """Each later arm against each earlier one (the first arm is the usual baseline): A - B."""
    out = []
    for i, b in enumerate(cells):
        for a in cells[i + 1:]:
            xs = [r.best_score for r in a.finished]
            ys = [r.best_score for r in b.finished]
            ok = bool(xs and ys)
            out.append(Comparison(problem, a.arm, b.arm, xs, ys, stats.bootstrap_diff(xs, ys) if ok else None,
                                  stats.mann_whitney(xs, ys) if ok else None))
    return out

