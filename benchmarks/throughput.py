"""Trivial candidates through the real loop, side by side in one run: evaluations per second and what a command costs.

Every row runs the same trivial problem (the evaluator imports the candidate and calls it) with
the same concurrency, on this machine, one after the other:

  bare multiprocessing           the ceiling: the evaluation in a multiprocessing pool, no sandbox, no loop
  evolve, offline mutator        `evolve start` (a subprocess, the real command): fork servers, the default
  evolve, one sandbox each       the same with EVOLVE_FORK_SERVER=0: a fresh (warm) bwrap sandbox per evaluation
  evolve, LLM (fake server)      `evolve start` with the LLM mutator against a local fake LLM server (an
                                 OpenAI-compatible api_base: plain HTTP, `llm.models[].client: auto`)
  evolve, LLM through litellm    the same with `client: litellm`
  baseline, ...                  with --baseline DIR: the same two `evolve start` rows run from another checkout
  openevolve, LLM (fake server)  OpenEvolve's own CLI in a throwaway venv (`pip install openevolve`), same fake
                                 server, same evaluator, parallel_evaluations = the concurrency (and its
                                 default, 1); skipped with the reason where it cannot be installed

Columns: evaluations/s in the loop (between the first and the last evaluation recorded), over the
whole command (launch to exit), start-up (launch to the first evaluation's start) and shut-down (the
last evaluation recorded to exit) in seconds, and the loop rate against OpenEvolve's (else the ceiling).
Rows run interleaved, `--rounds` times; each figure is the median over the rounds. A noisy machine
moves every row: compare rows of one run, not runs. `--decoupling` adds the rows of
issue 4 (LLM 2 s and evaluation 1 s: LLM calls apart from evaluation slots, against coupled).
Usage: python benchmarks/throughput.py [--candidates 300] [--concurrency 2] [--rounds 3] [--baseline DIR]
       [--openevolve-venv DIR] [--no-openevolve] [--decoupling]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INITIAL = '''\
def f(x):
    # EVOLVE-BLOCK-START
    a = 1.5
    b = 2.5
    return a * x + b
    # EVOLVE-BLOCK-END
'''
EVALUATOR = '''\
import importlib.util


def _load(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path, workload=None):
    try:
        value = float(_load(program_path).f(1.0))
    except Exception as exc:
        value = -1e9
    return {"metrics": {"score": value}, "artifacts": {}}
'''
OPENEVOLVE_EVALUATOR = EVALUATOR + '''

def openevolve_evaluate(program_path):
    return {"combined_score": evaluate(program_path)["metrics"]["score"]}
'''
PROBLEM = '''\
name: trivial
description: Make f(1.0) as large as possible.
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {{name: score, direction: max}}
workloads:
  stages:
    - {{name: only}}
evolution:
  budget: {{iterations: {n}}}
  concurrency: {c}
{llm}'''
OE_DRIVER = '''\
import json, sys, time
start = time.time()
import openevolve.database as database
stamps = []
original = database.ProgramDatabase.add
def add(self, program, *args, **kwargs):
    stamps.append(time.time())
    return original(self, program, *args, **kwargs)
database.ProgramDatabase.add = add
from openevolve.cli import main
sys.argv = ["openevolve-run", *sys.argv[1:]]
code = main()
print("STAMPS " + json.dumps(stamps), flush=True)
sys.exit(code)
'''


@dataclass
class Row:
    label: str
    loop: float | None = None  # evaluations/s between the first and the last
    whole: float | None = None  # evaluations/s over the command
    startup_s: float | None = None
    shutdown_s: float | None = None
    evaluations: int = 0
    note: str = ""


# --- the ceiling -------------------------------------------------------------------------------
def _bare_eval(path: str) -> float:
    scope: dict = {}
    exec(EVALUATOR, scope)
    return scope["evaluate"](path)["metrics"]["score"]


def bare(folder: Path, n: int, c: int) -> Row:
    paths = []
    for i in range(n):
        path = folder / f"bare_{i}.py"
        path.write_text(INITIAL.replace("1.5", f"{1.5 + i}"))
        paths.append(str(path))
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(c) as pool:
        ready = time.perf_counter()
        pool.map(_bare_eval, paths, chunksize=1)
        done = time.perf_counter()
    end = time.perf_counter()
    return Row("bare multiprocessing (no sandbox, no loop)", n / (done - ready), n / (end - start),
               ready - start, end - done, n)


# --- evolve ------------------------------------------------------------------------------------
def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def evolve(folder: Path, label: str, n: int, c: int, env: dict, llm: str = "", tree: Path = ROOT) -> Row:
    problem = folder / "".join(ch if ch.isalnum() else "_" for ch in label)
    problem.mkdir()
    (problem / "initial.py").write_text(INITIAL)
    (problem / "evaluate.py").write_text(EVALUATOR)
    (problem / "problem.yaml").write_text(PROBLEM.format(n=n, c=c, llm=llm))
    runs = folder / "runs"
    name = f"bench-{problem.name}"
    launch = time.time()
    if tree != ROOT:  # another checkout (`--baseline`): its code first on the path
        env = {**env, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "evolve", "--runs-dir", str(runs), "start", str(problem),
                           "--name", name], cwd=tree, env={**os.environ, **env}, capture_output=True, text=True)
    exit_at = time.time()
    if done.returncode != 0:
        return Row(label, note=f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    with sqlite3.connect(runs / name / "evolve.db") as db:
        rows = db.execute("SELECT created_at, wall_s FROM evaluations ORDER BY created_at").fetchall()
    stamps = [_stamp(t) for t, _ in rows]
    first_start = stamps[0] - rows[0][1]
    loop = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return Row(label, loop, len(stamps) / (exit_at - launch), first_start - launch, exit_at - stamps[-1], len(stamps))


# --- OpenEvolve --------------------------------------------------------------------------------
def openevolve_python(venv: Path | None, folder: Path) -> tuple[str | None, str]:
    """An interpreter that imports openevolve: the given venv's, else a fresh throwaway venv (pip install)."""
    if venv is not None:
        python = venv / "bin" / "python"
        return (str(python), "") if python.exists() else (None, f"{python} does not exist")
    venv = folder / "openevolve-venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        return None, f"python -m venv failed: {made.stderr.strip()[-200:]}"
    python = str(venv / "bin" / "python")
    got = subprocess.run([python, "-m", "pip", "install", "-q", "openevolve"], capture_output=True, text=True,
                         timeout=900)
    if got.returncode != 0:
        return None, f"pip install openevolve failed: {got.stderr.strip()[-200:]}"
    return python, ""


def openevolve(folder: Path, python: str, url: str, n: int, c: int,
               label: str = "openevolve, LLM (fake server)") -> Row:
    work = folder / "".join(ch if ch.isalnum() else "_" for ch in label)
    work.mkdir()
    (work / "initial.py").write_text(INITIAL)
    (work / "evaluator.py").write_text(OPENEVOLVE_EVALUATOR.replace("def evaluate(", "def _evaluate(")
                                       .replace("evaluate(program_path)[", "_evaluate(program_path)[")
                                       .replace("def openevolve_evaluate(", "def evaluate("))
    (work / "config.yaml").write_text(textwrap.dedent(f'''\
        max_iterations: {n}
        checkpoint_interval: {n + 1}
        log_level: WARNING
        llm:
          api_base: {url}
          api_key: not-needed
          models:
            - {{name: fake, weight: 1.0}}
          retries: 0
        evaluator:
          parallel_evaluations: {c}
          cascade_evaluation: false
          enable_artifacts: false
        '''))
    (work / "driver.py").write_text(OE_DRIVER)
    launch = time.time()
    done = subprocess.run([python, str(work / "driver.py"), str(work / "initial.py"), str(work / "evaluator.py"),
                           "--config", str(work / "config.yaml"), "--output", str(work / "out")],
                          cwd=work, capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": "not-needed"})
    exit_at = time.time()
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("STAMPS ")]
    if done.returncode != 0 or not line:
        return Row(label, note=f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")
    stamps = json.loads(line[-1].removeprefix("STAMPS "))
    loop = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return Row(label, loop, len(stamps) / (exit_at - launch), stamps[0] - launch, exit_at - stamps[-1], len(stamps))


# --- report ------------------------------------------------------------------------------------
def _median(rows: tuple[Row, ...]) -> Row:
    """Each figure's median over the rounds (a row that failed in a round keeps its note)."""
    def mid(values):
        values = sorted(v for v in values if v is not None)
        return statistics.median(values) if values else None
    ok = [r for r in rows if r.loop is not None] or list(rows)
    return Row(rows[0].label, mid(r.loop for r in ok), mid(r.whole for r in ok), mid(r.startup_s for r in ok),
               mid(r.shutdown_s for r in ok), int(mid(r.evaluations for r in ok) or 0),
               "; ".join(sorted({r.note for r in rows if r.note})))


def _fmt(value: float | None, spec: str) -> str:
    width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
    return "-".rjust(width) if value is None else format(value, spec)


def report(rows: list[Row]) -> None:
    oe = next((r for r in rows if r.label == "openevolve, LLM (fake server)" and r.loop), None)
    base = oe or rows[0]
    print(f"\n{'':44} {'evaluations/s':>24} {'seconds':>17}")
    print(f"{'':44} {'loop':>8} {'command':>9} {'n':>6} {'start-up':>9} {'shut-down':>9}  "
          f"loop vs {'OpenEvolve' if oe else 'ceiling'}")
    for r in rows:
        ratio = f"{r.loop / base.loop:.2f}x" if r.loop and base.loop else "-"
        print(f"{r.label:44} {_fmt(r.loop, '8.1f')} {_fmt(r.whole, '9.1f')} {r.evaluations:6d} "
              f"{_fmt(r.startup_s, '9.2f')} {_fmt(r.shutdown_s, '9.2f')}  {ratio}"
              + (f"  ({r.note})" if r.note else ""))
    mine = {r.label: r for r in rows}
    fork, each = mine.get("evolve, offline mutator"), mine.get("evolve, one sandbox each")
    if fork and each and fork.loop and each.loop:
        print(f"fork servers / one sandbox per evaluation (loop): {fork.loop / each.loop:.2f}x")
    for what in ("offline mutator", "LLM (fake server)"):
        now, before = mine.get(f"evolve, {what}"), mine.get(f"baseline, {what}")
        if now and before and now.loop and before.loop:
            fixed = lambda r: (r.startup_s or 0) + (r.shutdown_s or 0)  # noqa: E731
            print(f"{what}: loop {now.loop / before.loop:.2f}x the baseline; start-up + shut-down "
                  f"{fixed(before):.2f} s -> {fixed(now):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=300, help="iterations (children) per row")
    parser.add_argument("--concurrency", type=int, default=2, help="evaluations at once, every row")
    parser.add_argument("--openevolve-venv", type=Path, help="a venv with openevolve installed (default: make one)")
    parser.add_argument("--no-openevolve", action="store_true", help="skip the OpenEvolve row")
    parser.add_argument("--decoupling", action="store_true", help="add the LLM/evaluation decoupling rows")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, rows interleaved; the median is shown")
    parser.add_argument("--baseline", type=Path, help="another checkout of evolve (e.g. `git archive` of a commit) "
                        "whose `evolve start` gets rows of its own, for before/after figures in one run")
    args = parser.parse_args()
    n, c = args.candidates, args.concurrency
    from evolve.llm.fake_answers import perturber
    from evolve.llm.fake_server import FakeLLMServer
    with tempfile.TemporaryDirectory(prefix="evolve-throughput-") as tmp, \
            FakeLLMServer(perturber(seed=0, delay=0.0)) as fake:
        folder = Path(tmp)
        python, why = ((None, "--no-openevolve") if args.no_openevolve
                       else openevolve_python(args.openevolve_venv, folder))
        llm = (f"llm:\n  models:\n    - {{name: openai/fake, api_base: \"{fake.url}\", "
               "input_cost_per_token: 0, output_cost_per_token: 0}\n")
        rounds = []
        for k in range(args.rounds):
            here = folder / f"round-{k}"
            here.mkdir()
            row = [bare(here, n, c),
                   evolve(here, "evolve, offline mutator", n, c, {}),
                   evolve(here, "evolve, one sandbox each", n, c, {"EVOLVE_FORK_SERVER": "0"}),
                   evolve(here, "evolve, LLM (fake server)", n, c, {}, llm),
                   evolve(here, "evolve, LLM through litellm", n, c, {}, llm.replace("}\n", ", client: litellm}\n"))]
            if args.baseline:
                row += [evolve(here, "baseline, offline mutator", n, c, {}, tree=args.baseline),
                        evolve(here, "baseline, LLM (fake server)", n, c, {}, llm, tree=args.baseline)]
            row.append(openevolve(here, python, fake.url, n, c) if python
                       else Row("openevolve, LLM (fake server)", note=f"skipped: {why}"))
            if python and c != 1:  # its default: parallel_evaluations 1
                row.append(openevolve(here, python, fake.url, n, 1, "openevolve, parallel_evaluations 1"))
            rounds.append(row)
            print(f"round {k + 1}/{args.rounds}: " + ", ".join(f"{r.label.split(',')[0]} {_fmt(r.loop, '.1f')}"
                                                         for r in row), flush=True)
    report([_median(rows) for rows in zip(*rounds)])
    if args.decoupling:
        from benchmarks.throughput_decoupling import main as decoupling
        decoupling(40)


if __name__ == "__main__":
    main()
