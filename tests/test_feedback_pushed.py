"""The feedback an LLM prompt holds for a program is the same whether the proposer kept it as the program
was recorded (evolve.search.propose.LLMProposer.recorded) or reads it back from the database (a resumed
run, or a program recorded by another path)."""
from __future__ import annotations

import math

from evolve.db import repo
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Run
from evolve.executor import StageOutcome
from evolve.problem import Stage
from evolve.search.propose import LLMProposer, feedback


class _LLM:
    class cfg:
        concurrency = 1


def test_pushed_feedback_reads_as_the_stored_one(tmp_path):
    factory = open_database(sqlite_url(tmp_path / "evolve.db"))
    with factory.begin() as session:
        run = Run(name="r", problem="p", problem_path=str(tmp_path), config={})
        session.add(run)
        session.flush()
        run_id = run.id
    outcomes = [StageOutcome(Stage(name="quick"), "ok", True, {"score": 0.5, "ratio": 1 / 3, "nan": math.nan},
                             {"trace": (1, 2), "note": "ok"}),
                StageOutcome(Stage(name="full"), "failed", False, error="Boom"),
                StageOutcome(Stage(name="holdout:test"), "ok", True, {"score": 9.0})]
    proposer = LLMProposer(_LLM(), factory, feedback_chars=4000)
    with factory.begin() as session:
        program = repo.add_program(session, run_id=run_id, iteration=0, code="x = 1", code_hash="h",
                                   mutation="initial")
        repo.record_outcome(session, program.id, outcomes, status="failed", score=None, metrics={"score": 0.5},
                            error="the full stage failed")
    proposer.recorded(program.id, "the full stage failed", outcomes)
    with factory() as session:
        stored = feedback(session, program.id, 4000)
    assert proposer.feedback[program.id] == stored
    assert "stage quick: ok" in stored and "(1, 2)" not in stored and "holdout" not in stored  # as JSON gives it
