"""Candidates per minute when LLM calls and evaluations are both slow, measured side by side.

Setup of issue 4: the local fake LLM server answers each call in 2 s, an evaluation takes 1 s
(plus the sandbox's own start), 2 evaluation slots. The evaluation-bound limit is 120 per
minute. `evolve` keeps LLM calls apart from evaluation slots (llm.concurrency extra candidates
in flight); the comparison row holds the evaluation slot during the LLM call, as a design that
couples them does (max_in_flight = the evaluation slots). Then both instant.
Usage: python benchmarks/throughput_decoupling.py [--candidates 40]  (or benchmarks/throughput.py --decoupling)
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.search.controller import Controller, Limits  # noqa: E402
from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import Run  # noqa: E402
from evolve.executor import LocalExecutor  # noqa: E402
from evolve.llm.fake_answers import perturber  # noqa: E402
from evolve.llm.fake_server import FakeLLMServer  # noqa: E402
from evolve.mutate.llm import LLMMutator  # noqa: E402
from tests.llm.fakes import llm_problem  # noqa: E402

EVALUATOR = '''
import time
from importlib.machinery import SourceFileLoader

def evaluate(program_path, workload):
    time.sleep(workload["sleep"])
    value = SourceFileLoader("c", program_path).load_module().value()
    return {"metrics": {"valid": True, "closeness": -abs(value - 10)}}
'''


class Quiet:
    def recorded(self, program, best):
        pass


async def measure(folder: Path, url: str, eval_s: float, n: int, coupled: bool) -> float:
    problem = llm_problem(folder, url, models=[{"name": "openai/fake", "api_base": url, "timeout_s": 30,
                                                "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}],
                          concurrency=8, preflight="probe")
    (folder / "evaluate.py").write_text(EVALUATOR)
    problem.spec = problem.spec.model_copy(update={"workloads": problem.spec.workloads.model_copy(update={
        "stages": [problem.spec.workloads.stages[0].model_copy(update={"workload": {"sleep": eval_s}})]})})
    with tempfile.TemporaryDirectory() as tmp:
        factory = open_database(sqlite_url(Path(tmp) / "evolve.db"))
        with factory.begin() as session:
            run = Run(name="bench", problem=problem.name, problem_path="", config={})
            session.add(run)
        llm = LLMMutator(problem, random.Random(0))
        await llm.preflight()  # as `evolve start` does before the run: litellm is imported and warm
        controller = Controller(problem, factory, run, LocalExecutor(problem, 2), Limits(n, None), 2, Quiet(),
                                llm=llm, max_in_flight=2 if coupled else None)
        await controller._evaluate(controller._insert(code=problem.initial_code, mutation="initial"))
        controller.next_iteration = 1
        start = time.perf_counter()
        await controller.run()
        elapsed = time.perf_counter() - start
        factory.kw["bind"].dispose()
    return n / elapsed * 60


def main(candidates: int | None = None) -> None:
    if candidates is None:
        parser = argparse.ArgumentParser()
        parser.add_argument("--candidates", type=int, default=40)
        candidates = parser.parse_args().candidates
    args = argparse.Namespace(candidates=candidates)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        with FakeLLMServer(perturber(seed=0, delay=2.0)) as slow:
            for label, coupled in (("evolve (LLM calls apart from evaluation slots)", False),
                                   ("coupled (the LLM call holds the evaluation slot)", True)):
                rate = asyncio.run(measure(Path(tmp) / label[:6], slow.url, 1.0, args.candidates, coupled))
                rows.append((f"LLM 2 s, evaluation 1 s: {label}", rate))
        with FakeLLMServer(perturber(seed=0, delay=0.0)) as fast:
            rate = asyncio.run(measure(Path(tmp) / "instant", fast.url, 0.0, args.candidates, False))
            rows.append(("both instant (sandbox start included)", rate))
    print(f"{'setup':<72} {'candidates/min':>14} {'vs 120/min':>10}")
    for label, rate in rows:
        print(f"{label:<72} {rate:>14.1f} {rate / 120:>10.2f}")
    print(f"decoupled / coupled: {rows[0][1] / rows[1][1]:.2f}x; both instant: {rows[2][1] / 60:.2f} candidates/s")


if __name__ == "__main__":
    main()
