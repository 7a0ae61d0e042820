"""LLM mutation path: where a scripted stream of 200 answers ends up, and the per-proposal overhead.

Run from the repository root:  .venv/bin/python benchmarks/llm_patch_stream.py [--responses 200] [--seed 0]

Part 1 drives LLMMutator.propose() through the real litellm client against the
fake server (127.0.0.1) with a stream of N scripted HTTP responses, a seeded
mix of: good SEARCH/REPLACE edits, good whole-program rewrites, edits whose
SEARCH text is not in the program, edits outside the EVOLVE-BLOCKs, no-op
edits, empty answers, 429s (Retry-After: 0), 500s, malformed bodies and slow
answers past the model's timeout. Settings: retries 2, max_patch_attempts 2 (--patch-attempts),
one proposal at a time so the stream is consumed in order. It prints how many
proposals end as a child to evaluate, how many are rejected (by reason), and
how many needed a retry (transport or patch).

Part 2 times, in process and without the network, what evolve adds per
proposal: building the prompt (parent + 4 inspirations + 5 failures), applying
the patch, and writing the proposal's llm_calls rows in one SQLite
transaction. All figures come from this one run.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import LLMCall, Run  # noqa: E402
from evolve.llm.fake_server import FakeLLMServer, Step  # noqa: E402
from evolve.mutate.llm import LLMMutator, ProgramView  # noqa: E402
from evolve.mutate.patch import apply_answer  # noqa: E402
from evolve.problem import LLMConfig, Problem, load_problem  # noqa: E402

TIMEOUT_S = 0.5


def edit(search: str, replace: str) -> str:
    return f"Idea.\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def answers(code: str, rng: random.Random) -> dict:
    """One factory per case, each giving a Step (a fresh constant every time)."""
    good = lambda: edit("    recency = 1.0", f"    recency = {rng.uniform(0.1, 3):.3f}")  # noqa: E731
    rewrite = lambda: "```python\n" + code.replace("    aging = 0.0", f"    aging = {rng.uniform(0.1, 1):.3f}") + "```"  # noqa: E731
    return {
        "good_diff": lambda: Step(content=good()),
        "good_rewrite": lambda: Step(content=rewrite()),
        "search_not_found": lambda: Step(content=edit("    recency = 2.0", "    recency = 3.0")),
        "outside_blocks": lambda: Step(content=edit("def priority(now, hits, total_hits, last_gap, floor):",
                                                    "def priority(now, hits, total_hits, last_gap, floor=0):")),
        "no_op": lambda: Step(content=edit("    recency = 1.0", "    recency = 1.0")),
        "empty": lambda: Step(content=""),
        "429": lambda: Step(status=429, retry_after=0),
        "500": lambda: Step(status=500),
        "malformed": lambda: Step(body="{\"choices\": [ {\"message\": "),
        "slow": lambda: Step(content=good(), delay=TIMEOUT_S + 0.3),
    }


MIX = {"good_diff": 40, "good_rewrite": 10, "search_not_found": 10, "outside_blocks": 6, "no_op": 6,
       "empty": 6, "429": 8, "500": 6, "malformed": 4, "slow": 4}


def stream(code: str, n: int, seed: int) -> tuple[list[Step], Counter]:
    rng = random.Random(seed)
    make = answers(code, rng)
    cases = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    return [make[c]() for c in cases], Counter(cases)


def problem_with(llm: dict) -> Problem:
    base = load_problem("cache_eviction", check_evaluator=False)
    spec = base.spec.model_copy(update={"llm": LLMConfig.model_validate(llm)})
    return Problem(spec, base.yaml_path, base.initial_code)


async def drain(mutator: LLMMutator, parent: ProgramView, server: FakeLLMServer, n: int) -> list:
    proposals = []
    while len(server.chat_requests) < n:
        proposals.append(await mutator.propose(parent, [], [], None))
    return proposals


def reason_class(rejection: str) -> str:
    for key in ("not found", "outside the EVOLVE-BLOCKs", "no-op", "empty answer", "failed after",
                "script exhausted", "does not parse"):
        if key in rejection:
            return key
    return rejection[:60]


def part1(n: int, seed: int, patch_attempts: int) -> None:
    problem = load_problem("cache_eviction", check_evaluator=False)
    steps, cases = stream(problem.initial_code, n, seed)
    with FakeLLMServer(steps) as server:
        mutator = LLMMutator(problem_with({
            "models": [{"name": "openai/fake", "api_base": server.url, "timeout_s": TIMEOUT_S}],
            "retries": 2, "backoff_s": 0.0, "max_patch_attempts": patch_attempts, "cooldown_after": 1000,
            "mutation": {"diff": 0.8, "rewrite": 0.2}}), random.Random(seed))
        parent = ProgramView(0, problem.initial_code, 0.5, {"hit_rate": 0.5}, "", 0)
        started = time.perf_counter()
        proposals = asyncio.run(drain(mutator, parent, server, n))
        wall = time.perf_counter() - started
    outcomes = Counter(c.outcome for p in proposals for c in p.calls)
    evaluated = [p for p in proposals if p.code is not None]
    rejected = [p for p in proposals if p.code is None]
    retried = [p for p in proposals if len(p.calls) > 1]
    patch_retried = [p for p in proposals if any(c.attempt > 1 for c in p.calls)]
    print(f"stream of {n} scripted responses (seed {seed}, max_patch_attempts {patch_attempts}); "
          f"cases: {dict(sorted(cases.items()))}")
    print(f"  responses by call outcome: {dict(sorted(outcomes.items()))} (total {sum(outcomes.values())})")
    print(f"  proposals: {len(proposals)} -> evaluated (a child to run): {len(evaluated)}, "
          f"rejected with a reason: {len(rejected)}")
    print(f"  rejections by reason: {dict(Counter(reason_class(p.rejection) for p in rejected))}")
    print(f"  retried: {len(retried)} proposals made more than one call "
          f"({len(retried) - len(patch_retried)} transport retries only, {len(patch_retried)} patch errors sent back); "
          f"{sum(p.code is not None for p in retried)} of them ended with a child")
    print(f"  every rejection has a reason: {all(p.rejection for p in rejected)}; "
          f"wall {wall:.2f} s for the stream (includes {TIMEOUT_S} s timeouts)")


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def part2(repeat: int) -> None:
    problem = problem_with({"models": [{"name": "openai/fake", "api_base": "http://127.0.0.1:9/v1"}]})
    mutator = LLMMutator(problem, random.Random(0))
    code = problem.initial_code
    parent = ProgramView(1, code, 0.5, {"hit_rate": 0.5, "valid": True}, "trace zipf: ok\n" * 40, 3)
    insp = [ProgramView(i, code.replace("1.0", f"{i}.5"), 0.4, {"hit_rate": 0.4}, "", 2) for i in range(4)]
    failures = [f"#{i}: SEARCH/REPLACE block 1: the SEARCH text was not found" for i in range(5)]
    answer = edit("    recency = 1.0", "    recency = 1.7")
    t_prompt = timed(lambda: mutator.prompts.build("diff", parent, insp, failures, None), repeat)
    t_patch = timed(lambda: apply_answer(code, answer, "diff"), repeat)
    messages = mutator.prompts.build("diff", parent, insp, failures, None)
    from evolve.llm.client import prompt_hash, render
    t_hash = timed(lambda: (prompt_hash(messages), render(messages)), repeat)
    with tempfile.TemporaryDirectory() as tmp:
        factory = open_database(sqlite_url(Path(tmp) / "evolve.db"))
        with factory.begin() as s:
            run = Run(name="bench", problem="cache_eviction", problem_path="-", config={})
            s.add(run)
            s.flush()
            run_id = run.id
        prompt = render(messages)

        def write():
            with factory.begin() as s:
                s.add(LLMCall(run_id=run_id, model="openai/fake", prompt_tokens=900, completion_tokens=60,
                              cost_usd=0.001, latency_s=1.0, outcome="ok", prompt_hash=prompt_hash(messages),
                              response=answer, prompt=prompt, kind="diff", attempt=1))

        t_write = timed(write, repeat)
    total = t_prompt + t_patch + t_hash + t_write
    print(f"overhead per proposal (median of {repeat}, in process): prompt build {t_prompt:.0f} us "
          f"({len(prompt)} chars), prompt hash+render {t_hash:.0f} us, patch {t_patch:.0f} us, "
          f"ledger write (1 llm_calls row, 1 transaction, SQLite WAL) {t_write:.0f} us; total {total / 1000:.2f} ms")


def part3(n: int) -> None:
    """End to end through litellm and HTTP with an instant server: what a proposal costs besides the model."""
    problem = load_problem("cache_eviction", check_evaluator=False)
    good = edit("    recency = 1.0", "    recency = 1.5")
    with FakeLLMServer([good], repeat_last=True) as server:
        mutator = LLMMutator(problem_with({"models": [{"name": "openai/fake", "api_base": server.url}],
                                           "mutation": {"diff": 1.0, "rewrite": 0.0}}), random.Random(0))
        parent = ProgramView(0, problem.initial_code, 0.5, {"hit_rate": 0.5}, "", 0)

        async def go() -> list[float]:
            await mutator.propose(parent, [], [], None)  # warm-up: imports litellm, opens the connection
            out = []
            for _ in range(n):
                t = time.perf_counter()
                await mutator.propose(parent, [], [], None)
                out.append(time.perf_counter() - t)
            return out

        samples = asyncio.run(go())
    print(f"propose() end to end with an instant local server (median of {n}): "
          f"{statistics.median(samples) * 1000:.1f} ms (prompt + litellm/HTTP round trip + patch)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--responses", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--patch-attempts", type=int, default=2)
    args = ap.parse_args()
    part1(args.responses, args.seed, args.patch_attempts)
    part2(args.repeat)
    part3(50)


if __name__ == "__main__":
    main()
