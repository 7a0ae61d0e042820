"""One database, many writers: upserts, JSON on both dialects, several processes writing runs at once."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

from sqlalchemy import inspect, select, text

from evolve.db import repo
from evolve.db.models import Cell, IslandMember, Program, Run
from tests.conftest import ROOT


def _run(factory, name="r") -> Run:
    with factory.begin() as s:
        run = Run(name=name, problem="p", problem_path="/p.yaml", config={"a": [1, 2]})
        s.add(run)
        s.flush()
        return run


def _program(factory, run, i=0, **fields) -> Program:
    with factory.begin() as s:
        return repo.add_program(s, run_id=run.id, iteration=i, mutation="m", code=str(i), code_hash=str(i), **fields)


def test_population_ops_upsert(factory):
    run = _run(factory)
    a, b = _program(factory, run, 0), _program(factory, run, 1)
    op = lambda kind, pid, **kw: SimpleNamespace(kind=kind, program_id=pid, island=kw.get("island", 0),  # noqa: E731
                                                 via=kw.get("via", "child"), cell=kw.get("cell"))
    with factory.begin() as s:
        repo.apply_population_ops(s, run.id, [op("add", a.id), op("cell", a.id, cell="0,0"),
                                              op("add", a.id, via="migration"),  # again: updated, not doubled
                                              op("cell", b.id, cell="0,0"), op("add", b.id)])
    with factory() as s:
        assert [(m.program_id, m.via) for m in s.scalars(select(IslandMember).order_by(IslandMember.program_id))] \
            == [(a.id, "migration"), (b.id, "child")]
        assert [(c.cell, c.program_id) for c in s.scalars(select(Cell))] == [("0,0", b.id)]
    with factory.begin() as s:
        repo.apply_population_ops(s, run.id, [op("remove", a.id), op("remove", a.id)])
        members, cells = repo.population_rows(s, run.id)
    assert [m.program_id for m in members] == [b.id] and len(cells) == 1


def test_json_round_trips_and_is_jsonb_on_postgresql(factory, db_url):
    run = _run(factory)
    _program(factory, run, 0, status="evaluated", score=2.0, metrics={"x": 1.5, "valid": True, "tags": ["a"]})
    with factory() as s:
        program = s.scalars(select(Program)).one()
        assert program.metrics == {"x": 1.5, "valid": True, "tags": ["a"]}
        assert s.get(Run, run.id).config == {"a": [1, 2]}
    columns = {c["name"]: c["type"] for c in inspect(factory.kw["bind"]).get_columns("programs")}
    kind = type(columns["metrics"]).__name__
    assert kind == ("JSONB" if db_url.startswith("postgresql") else "JSON")


def test_processes_write_their_runs_into_one_database_at_once(factory, db_url):
    """Several evolve processes (several runs, or several hosts) share one database safely."""
    script = textwrap.dedent(f"""
        import sys
        from evolve.db import repo
        from evolve.db.engine import open_database
        from evolve.db.models import Run
        factory = open_database({db_url!r})
        with factory.begin() as s:
            run = Run(name=sys.argv[1], problem="p", problem_path="/p", config={{}})
            s.add(run)
            s.flush()
        for i in range(40):
            with factory.begin() as s:
                repo.add_program(s, run_id=run.id, iteration=i, mutation="m", code=f"{{i}}", code_hash=f"{{i}}",
                                 status="evaluated", score=float(i))
        print("ok")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, f"run{k}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with factory() as s:
        counts = dict(s.execute(text("SELECT r.name, count(*) FROM programs p JOIN runs r ON r.id = p.run_id "
                                     "GROUP BY r.name")).all())
        assert counts == {"run0": 40, "run1": 40, "run2": 40}
        for name in counts:
            run = repo.get_run(s, name)
            assert repo.best_score(s, run.id) == 39.0
            assert [p.score for p in repo.ranked(s, run.id, limit=3, status="evaluated")] == [39.0, 38.0, 37.0]
