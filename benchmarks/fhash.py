"""Evidence for the duplicate filter on every built-in problem: what it merges, what it must not, what it costs.

Per problem:
1. A real run: `--iterations` children from the offline mutator through the real controller
   and sandbox, dedup on, deterministic (the same programs on every run of this benchmark). Reports
   what the filter saved there (duplicates, partial hits, seconds).
2. A corpus: the starting program and the run's best distinct programs (`--sources`), each with
   every rewrite of evolve/search/variants.py (meant to keep behaviour: renamed locals, comments,
   dead statements, commuted operands, ...) and `--mutants` offline mutations (meant to change it),
   plus hand-written near-misses of the starting program (NEAR_MISSES: a changed tie-break, ...).
3. Every program of the run and of the corpus evaluated in full (in worker processes, the same
   evaluator calls as the sandbox makes) and probed; the truth is the full evaluation: two programs
   are equivalent when every metric but the noisy ones (those that differ between two evaluations of
   the same program) and the re-measured costs (`kind: cost`, not in the probe) is equal. Reported:
   - recall: rewrites equivalent to their source that share its functional hash (and either hash);
   - false merges: programs sharing a functional hash with an earlier one that is not equivalent,
     split into score-changing (the score the filter would give, the original's behaviour with the
     program's own re-measured costs, differs from its own) and metric-only (listed);
   - pairs of programs with identical metrics (scored ones) that share a hash;
   - the probe's cost as a share of a full evaluation, in the sandbox, where it rides with the first
     stage of a cascade (or runs in a sandbox of its own for one-stage problems).
Usage: python benchmarks/fhash.py [--problems cache_eviction eplb ...] [--iterations 100] [--sources 4]
       [--mutants 4] [--wall 10] [--show]  (--show: the code diff of every false merge)
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib
import importlib.util
import itertools
import json
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.db import repo  # noqa: E402
from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import Run  # noqa: E402
from evolve.executor import LocalExecutor, StageOutcome  # noqa: E402
from evolve.mutate.offline import OfflineMutator  # noqa: E402
from evolve.problem import load_problem  # noqa: E402
from evolve.search import fhash, partial, variants  # noqa: E402
from evolve.search.controller import Controller, Limits  # noqa: E402
from evolve.search.scoring import assess, assess_metrics, first_unmet  # noqa: E402

PROBLEMS = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "problems").iterdir()
                  if (p / "problem.yaml").is_file())  # every built-in problem

# hand-written edits of each starting program meant to change what it does, a little (old text, new text)
NEAR_MISSES = {
    "cache_eviction": [("tie-break by hits", "    return score\n", "    return score + 1e-06 * hits\n"),
                       ("a little frequency", "frequency = 0.0", "frequency = 0.001")],
    "spot_scheduling": [("safety margin one tick more", "if ticks_needed >= ticks_left:",
                         "if ticks_needed + 1 >= ticks_left:"),
                        ("overhead counted twice", "(state.work_left_s + state.overhead_s)",
                         "(state.work_left_s + 2 * state.overhead_s)"),
                        ("warm spot kept only without overhead", "state.overhead_left_s < 1e-3",
                         "state.overhead_left_s < 0")],
    "txn_scheduling": [("last transaction first", "    left = list(workload.txns)\n",
                        "    left = list(workload.txns)\n    partial.append(left.pop())\n"),
                       ("ties to the last id", "best = min(left, key", "best = min(left[::-1], key")],
    "eplb": [("packing ties to the last pack", "best = min(open_packs, key", "best = min(open_packs[::-1], key"),
             ("replica ties to the last expert", "key=lambda e: loads[e] / counts[e])",
              "key=lambda e: (loads[e] / counts[e], e))"),
             ("packs start loaded", "pack_load = [0.0] * num_packs", "pack_load = [-0.0401] * num_packs")],
    "exp_f32": [("one unused float op", "    ki = k.astype(np.int32)\n",
                 "    ki = k.astype(np.int32)\n    unused = p * f32(2.0)\n"),
                ("a coefficient moved", "f32(1.6666665459e-1)", "f32(1.6666666e-1)")],
    "log_f32": [("one unused float op", "    f = m - f32(1.0)\n",
                 "    f = m - f32(1.0)\n    unused = f * f32(2.0)\n"),
                ("a coefficient moved", "f32(3.3333331174e-1)", "f32(3.3333334e-1)")],
}


@dataclass
class Program:
    """One program of the benchmark and what its full evaluation and probe gave."""

    label: str  # run #N | source name + rewrite or mutation
    code: str
    source: int | None = None  # index of the corpus source it was made from
    kind: str = "run"  # run | source | rewrite | mutant
    status: str = ""
    score: float | None = None
    metrics: dict = field(default_factory=dict)
    func_hash: str | None = None
    ast_hash: str | None = None
    probe: object = None
    stages: list = field(default_factory=list)  # (stage, metrics) of its evaluation, in order


# --- evaluation in worker processes ---------------------------------------------------------------------

def _worker_init() -> None:
    signal.signal(signal.SIGALRM, _timeout)


def _timeout(signum, frame):
    raise TimeoutError("the program ran past the sandbox's wall limit")


class FakeClock:
    """Each reading 1 ms after the last: timed metrics then follow from what a program does, not from the
    machine, so two evaluations compare exactly (the truth here; the real run and the probe's cost are timed)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1e-3
        return self.now


def _evaluator(problem):
    evaluator = importlib.import_module(problem.evaluator_ref)
    clock = FakeClock()
    for name, module in list(sys.modules.items()):
        if name.startswith("evaluators") and hasattr(module, "perf_counter"):
            module.perf_counter = clock
    return evaluator


def evaluate(problem_name: str, code: str, wall_s: float) -> dict:
    """All stages (stopping where a stage's `require` fails, as the cascade does) and the probe, in process."""
    problem = load_problem(problem_name)
    spec = problem.spec
    evaluator = _evaluator(problem)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidate.py"
        path.write_text(code)
        outcomes = []
        for stage in spec.workloads.stages:
            outcome = _call(evaluator.evaluate, str(path), stage.workload, wall_s)
            outcomes.append(_outcome(stage, outcome))
            if not outcomes[-1].passed:
                break
        probe = _call(evaluator.probe, str(path), spec.workloads.probe, wall_s, probe=True)
    status, score, metrics, _ = assess(spec.objectives, spec.constraints, outcomes)
    key = fhash.problem_key(problem)
    try:
        func_hash = fhash.functional_hash(key, [probe], spec.dedup.float_bits)
    except (fhash.Unhashable, TypeError):
        func_hash = None
    return {"status": status, "score": score, "metrics": metrics, "func_hash": func_hash, "probe": probe,
            "ast_hash": fhash.syntactic_hash(code), "stages": [(o.stage.name, o.metrics) for o in outcomes]}


def cost_run(problem_name: str, code: str, original: dict, names: list[str], wall_s: float):
    """(status, score) the filter records for `code` as a partial hit of `original` (its metrics and stage
    metrics): the cost-only runs, as the controller makes them; None where it would evaluate in full."""
    problem = load_problem(problem_name)
    spec, evaluator = problem.spec, _evaluator(problem)
    source = partial.sources(original["stages"], [s.name for s in spec.workloads.stages])
    known = {k: v for k, v in original["metrics"].items() if k not in partial.cost_names(spec)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidate.py"
        path.write_text(code)
        outcomes = [_outcome(stage, _call(evaluator.evaluate, str(path), stage.workload, wall_s))
                    for stage in partial.cost_stages(spec.workloads.stages, names, source, known)]
    metrics, _ = partial.merge(original["metrics"], outcomes, names, source, names)
    return None if metrics is None else assess_metrics(spec.objectives, spec.constraints, metrics)[:2]


def _call(fn, path: str, workload, limit: float, probe: bool = False):
    import numpy
    random.seed(0)
    numpy.random.seed(0)  # as the sandbox runner seeds them
    signal.alarm(int(limit) + 1)
    try:
        value = fn(path, dict(workload or {}))
        return json.loads(json.dumps(value, default=lambda v: v.tolist()))  # what crosses the sandbox boundary
    except BaseException as exc:  # noqa: BLE001: a hang or a crash of the candidate, as the sandbox reports it
        return {"__exception__": type(exc).__name__} if probe else {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        signal.alarm(0)


def _outcome(stage, value) -> StageOutcome:
    if not isinstance(value, dict) or "metrics" not in value:
        return StageOutcome(stage, "error", False, error=str(value)[:300])
    reason = first_unmet(stage.require, value["metrics"])
    return StageOutcome(stage, "ok", reason is None, metrics=value["metrics"], artifacts=value.get("artifacts") or {},
                        error=reason or "")


def evaluate_all(problem, programs: list[Program], workers: int) -> None:
    with concurrent.futures.ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
        for prog, out in zip(programs, pool.map(evaluate, itertools.repeat(problem.name), [p.code for p in programs],
                                                itertools.repeat(problem.spec.sandbox.wall_s))):
            for key, value in out.items():
                setattr(prog, key, value)


# --- the real run, and the corpus made from it ---------------------------------------------------------

async def real_run(problem, iterations: int, folder: Path) -> tuple[list, dict, float]:
    factory = open_database(sqlite_url(folder / "evolve.db"))
    with factory.begin() as session:
        run = Run(name="bench", problem=problem.name, problem_path=str(problem.root), config={})
        session.add(run)

    class Quiet:
        def recorded(self, program, best):
            pass

    controller = Controller(problem, factory, run, LocalExecutor(problem, 2), Limits(iterations, None), 2, Quiet())
    await controller.run()
    with factory() as session:
        rows = [(p.iteration, p.code, p.status, p.score, p.func_hash, p.eval_seconds)
                for p in repo.programs(session, run.id)]
        stats = repo.dedup_stats(session, run.id)
    factory.kw["bind"].dispose()
    return rows, stats, sum(r[5] or 0.0 for r in rows)


def corpus(problem, rows: list, n_sources: int, n_mutants: int, seed: int = 0) -> list[Program]:
    """The run's programs, then each source (the starting program and the best distinct evolved ones) with
    its rewrites and mutants."""
    rng = random.Random(seed)
    programs = [Program(f"run #{it + 1}", code) for it, code, status, *_ in rows if status != "rejected"]
    best, hashes = [], set()
    for it, code, status, score, func_hash, _ in sorted(rows, key=lambda r: -(r[3] if r[3] is not None else -1e300)):
        if status == "evaluated" and it > 0 and func_hash not in hashes and len(best) < n_sources:
            best.append((f"#{it + 1}", code))
            hashes.add(func_hash)
    mutator = OfflineMutator(rng)
    for label, old, new in NEAR_MISSES.get(problem.name, []):
        assert old in problem.initial_code, (problem.name, label)
        programs.append(Program(f"initial: {label}", problem.initial_code.replace(old, new, 1), 0, "near-miss"))
    for index, (name, code) in enumerate([("initial", problem.initial_code), *best]):
        programs.append(Program(name, code, index, "source"))
        for label, new in variants.variants(code, rng):
            programs.append(Program(f"{name}: {label}", new, index, "rewrite"))
        for _ in range(n_mutants):
            child = mutator.propose(code, lambda c: False)
            if child is not None:
                programs.append(Program(f"{name}: {child.mutation}", child.code, index, "mutant"))
    return programs


# --- the figures ----------------------------------------------------------------------------------------

@dataclass
class Truth:
    """Which metrics a comparison leaves out: noisy ones, and the costs a partial hit measures again."""

    noisy: set[str]
    remeasured: set[str]

    def differing(self, a: Program, b: Program) -> list[str]:
        keys = (set(a.metrics) | set(b.metrics)) - self.noisy - self.remeasured
        return sorted(k for k in keys if a.metrics.get(k) != b.metrics.get(k))


def merges(programs: list[Program], truth: Truth) -> list[tuple[Program, Program, list[str]]]:
    """(program, the earlier program of its functional hash, the metrics that differ) for every wrong merge."""
    first_of: dict[str, Program] = {}
    out = []
    for p in sorted(programs, key=lambda p: p.kind != "source"):  # sources are the originals of their hash
        if p.func_hash is not None:
            original = first_of.setdefault(p.func_hash, p)
            diff = truth.differing(p, original) if original is not p else []
            if diff:
                out.append((p, original, diff))
    return out


def recorded(problem, wrong: list, truth: Truth, workers: int) -> list:
    """The (status, score) the filter records for each wrong merge: the original's, or for a partial hit the
    original's behaviour with the program's own cost-only runs (None: the controller would evaluate in full)."""
    partial_ones = [(p, o) for p, o, _ in wrong if truth.remeasured and o.status != "failed"]
    with concurrent.futures.ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
        runs = iter(list(pool.map(cost_run, itertools.repeat(problem.name), [p.code for p, _ in partial_ones],
                                  [{"metrics": o.metrics, "stages": o.stages} for _, o in partial_ones],
                                  itertools.repeat(sorted(truth.remeasured)),
                                  itertools.repeat(problem.spec.sandbox.wall_s))))
    return [next(runs) if truth.remeasured and o.status != "failed" else (o.status, o.score) for _, o, _ in wrong]


def _code_diff(a: str, b: str) -> str:
    import difflib
    return "".join(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True), n=0))[2:])


def _same_score(a: tuple, b: tuple) -> bool:
    if a[0] != b[0] or (a[1] is None) != (b[1] is None):
        return False
    return a[1] is None or abs(a[1] - b[1]) <= 1e-9 * max(1.0, abs(b[1]))


def figures(programs: list[Program], truth: Truth, wrong: list, scores: list) -> dict:
    sources = {p.source: p for p in programs if p.kind == "source"}
    rewrites = [p for p in programs if p.kind == "rewrite" and not truth.differing(p, sources[p.source])]
    recall_f = sum(p.func_hash is not None and p.func_hash == sources[p.source].func_hash for p in rewrites)
    recall_any = sum(p.ast_hash == sources[p.source].ast_hash
                     or (p.func_hash is not None and p.func_hash == sources[p.source].func_hash) for p in rewrites)
    changing, metric_only = [], []
    for (p, original, diff), score in zip(wrong, scores):
        row = (p.label, original.label, diff, _code_diff(original.code, p.code))
        if score is not None:  # None: its cost-only run failed, so the controller evaluates it in full
            (metric_only if _same_score(score, (p.status, p.score)) else changing).append(row)
    scored = [p for p in programs if p.status == "evaluated"]
    pairs = [(a, b) for a, b in itertools.combinations(scored, 2) if not truth.differing(a, b) and a.code != b.code]
    return {"rewrites": len(rewrites), "recall_f": recall_f, "recall_any": recall_any,
            "changing": changing, "metric_only": metric_only,
            "pairs": len(pairs), "pairs_shared": sum(a.func_hash == b.func_hash for a, b in pairs)}


async def probe_share(problem, n: int = 9) -> tuple[float, float, float, str]:
    """Median probe seconds, median full-evaluation seconds, and the median of their ratio per evaluation (the
    share; steadier than the ratio of the medians on a noisy machine), in the sandbox, the way a run calls them."""
    executor = LocalExecutor(problem, 1)
    code, probes, fulls = problem.initial_code, [], []
    riding = len(problem.spec.workloads.stages) > 1
    for _ in range(n):
        await asyncio.sleep(0.6)  # as in a run, the next sandbox warms up while other work goes on
        outcomes = await executor.evaluate(code, probe_repeat=2)
        fulls.append(sum(o.wall_s for o in outcomes))
        if riding:
            probes.append(outcomes[0].probe_s)
        else:
            await asyncio.sleep(0.6)
            probes.append((await executor.probe(code, repeat=2)).wall_s)
    share = statistics.median(p / f for p, f in zip(probes, fulls) if f)
    return statistics.median(probes), statistics.median(fulls), share, "riding with the first stage" if riding else "own sandbox"


# --- one problem ----------------------------------------------------------------------------------------

def _deterministic(data: dict) -> dict:
    """The real run with `evolution.deterministic: true`: its two evaluation slots decide nothing by timing,
    so the run, and the corpus made from it, are the same on every run of this benchmark."""
    return {**data, "evolution": {**(data.get("evolution") or {}), "deterministic": True}}


def bench(name: str, args) -> dict | None:
    problem = load_problem(name, edit=_deterministic)
    # looked up, not imported: the worker processes fork from this one, and a triton imported here before
    # the evaluator picks its mode (the interpreter, without a GPU) would fail every kernel in them
    missing = [m for m in (["torch", "triton"] if name == "moe_gating_triton" else []) if not importlib.util.find_spec(m)]
    if missing:
        print(f"\n== {name}: skipped (no {', '.join(missing)}; the problem needs its GPU extra: pip install -e '.[gpu]')")
        return None
    start = time.perf_counter()
    limits = {k: min(getattr(problem.spec.sandbox, k), args.wall) for k in ("wall_s", "cpu_s")}
    problem.spec = problem.spec.model_copy(update={"sandbox": problem.spec.sandbox.model_copy(update=limits)})
    with tempfile.TemporaryDirectory() as tmp:
        rows, stats, spent = asyncio.run(real_run(problem, args.iterations, Path(tmp)))
    programs = corpus(problem, rows, args.sources, args.mutants)
    twice = [Program("initial (again)", problem.initial_code), Program("initial", problem.initial_code)]
    evaluate_all(problem, twice + programs, args.workers)
    probed = partial.probed_costs([twice[1].probe])
    truth = Truth(noisy=set(Truth(set(), set()).differing(*twice)),
                  remeasured=set(partial.cost_names(problem.spec) - probed))
    wrong = merges(programs, truth)
    fig = figures(programs, truth, wrong, recorded(problem, wrong, truth, args.workers))
    probe_s, full_s, share, how = asyncio.run(probe_share(problem))
    fig.update(name=name, probe_s=probe_s, full_s=full_s, share=share, how=how, stats=stats, spent=spent, n=len(programs),
               proposals=len(rows) - 1, show=args.show, noisy=truth.noisy, remeasured=truth.remeasured,
               wall=time.perf_counter() - start)
    report(fig)
    return fig


def report(f: dict) -> None:
    s = f["stats"]
    kinds = "" if not f["remeasured"] else f"; re-measured costs {sorted(f['remeasured'])}"
    print(f"\n== {f['name']} ({f['n']} programs evaluated in full; noisy metrics {sorted(f['noisy']) or 'none'}{kinds})")
    print(f"  recall on rewrites equivalent to their source: functional {f['recall_f']}/{f['rewrites']} "
          f"= {_pct(f['recall_f'], f['rewrites'])}, either level {f['recall_any']}/{f['rewrites']}")
    print(f"  false merges confirmed by full evaluation: {len(f['changing'])} score-changing, "
          f"{len(f['metric_only'])} metric-only")
    for label, original, diff, code in f["changing"] + f["metric_only"]:
        print(f"    {label} merged with {original}: {', '.join(diff[:6])}{' ...' if len(diff) > 6 else ''} differ")
        if f["show"]:
            print("      " + code.replace("\n", "\n      "))
    print(f"  scored programs with identical metrics sharing a functional hash: {f['pairs_shared']}/{f['pairs']} pairs "
          f"= {_pct(f['pairs_shared'], f['pairs'])}")
    print(f"  probe ({f['how']}): {f['probe_s'] * 1000:.1f} ms vs {f['full_s'] * 1000:.0f} ms full evaluation "
          f"(medians); {f['share']:.1%} of it (median per evaluation)")
    print(f"  real run, {f['proposals']} proposals: {s['syntactic']} syntactic + {s['functional']} functional "
          f"duplicates, {s['partial']} partial hits; {s['seconds_saved'] + s['partial_seconds_saved']:.1f} s of "
          f"evaluation saved ({f['spent']:.1f} s spent, probes {s['probe_seconds']:.1f} s); {f['wall']:.0f} s")


def _pct(a: float, b: float) -> str:
    return f"{a / b:.1%}" if b else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", nargs="+", default=PROBLEMS)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--sources", type=int, default=4, help="evolved programs to rewrite, besides the initial")
    parser.add_argument("--mutants", type=int, default=4, help="offline mutations of each source")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--wall", type=float, default=10.0, help="cap on the sandbox's wall and CPU seconds")
    parser.add_argument("--show", action="store_true", help="print the code diff of every false merge")
    args = parser.parse_args()
    results = [r for r in (bench(name, args) for name in args.problems) if r]
    print(f"\n{'problem':<22}{'recall':>9}{'score-chg':>11}{'metric-only':>13}{'pairs':>9}{'probe':>8}{'saved':>8}")
    for f in results:
        s = f["stats"]
        saved = s["seconds_saved"] + s["partial_seconds_saved"]
        print(f"{f['name']:<22}{_pct(f['recall_f'], f['rewrites']):>9}{len(f['changing']):>11}{len(f['metric_only']):>13}"
              f"{_pct(f['pairs_shared'], f['pairs']):>9}{f['share']:>8.1%}"
              f"{_pct(saved, saved + f['spent']):>8}")


if __name__ == "__main__":
    main()
