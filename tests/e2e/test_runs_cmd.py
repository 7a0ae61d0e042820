"""`evolve runs`, `runs rm` and `runs prune` through the CLI, on SQLite (runs/<name>/) and PostgreSQL (--db)."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from evolve.cli import main
from evolve.db import lease
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Base, Cell, Evaluation, IslandMember, LLMCall, Program, Run, RunLease, utcnow
from tests.conftest import ROOT
from tests.db import pgserver
from tests.e2e.test_cli_runs import evolve

LONG = "spot_scheduling-20261127-121212-resumed-after-the-outage"  # 56 characters
OLD = datetime(2025, 1, 1, 12, 0, 0)


class Store:
    """Runs in one backend: runs/<name>/evolve.db each, or one shared PostgreSQL database (--db URL)."""

    def __init__(self, cwd: Path, url: str | None):
        self.cwd, self.url = cwd, url
        self.args = ["--db", url] if url else []

    def factory(self, name: str):
        if self.url:
            return open_database(self.url)
        (self.cwd / "runs" / name).mkdir(parents=True, exist_ok=True)
        return open_database(sqlite_url(self.cwd / "runs" / name / "evolve.db"))

    def add(self, name: str, status: str = "finished", when: datetime | None = None, holder: str | None = None) -> int:
        """A run with a little of everything: lineage, a duplicate, evaluations, an LLM call, islands, a cell.

        holder: None (no lease), 'live' (this process holds it), 'dead' (a process that is gone).
        """
        when = when or utcnow()
        factory = self.factory(name)
        with factory.begin() as s:
            run = Run(name=name, problem="tiny", problem_path="/tiny/problem.yaml", config={}, status=status,
                      created_at=when, updated_at=when)
            s.add(run)
            s.flush()
            first = Program(run_id=run.id, iteration=0, mutation="initial", code="a", code_hash="a",
                            status="evaluated", score=1.0, created_at=when)
            s.add(first)
            s.flush()
            child = Program(run_id=run.id, iteration=1, parent_id=first.id, mutation="m", code="b", code_hash="b",
                            status="evaluated", score=2.0, created_at=when, evaluated_at=when)
            s.add(child)
            s.flush()
            dup = Program(run_id=run.id, iteration=2, parent_id=child.id, second_parent_id=first.id, mutation="m",
                          code="b ", code_hash="b2", status="duplicate", duplicate_of=child.id, created_at=when)
            s.add(dup)
            s.flush()
            for p in (first, child):
                s.add(Evaluation(program_id=p.id, stage="only", workload={}, status="ok", passed=True, created_at=when))
            s.add(LLMCall(run_id=run.id, program_id=child.id, model="fake", outcome="ok", created_at=when))
            s.add(IslandMember(run_id=run.id, island=0, program_id=child.id, via="child", joined_at=when))
            s.add(Cell(run_id=run.id, cell="0,0", program_id=child.id))
            if holder == "live":
                lease.acquire(s, run.id)
            elif holder == "dead":
                s.add(RunLease(run_id=run.id, token="d" * 32, host=lease.HOST, pid=_dead_pid(), process=None,
                               acquired_at=when, heartbeat_at=when))
            run_id = run.id
        factory.kw["bind"].dispose()
        (self.cwd / "runs" / name).mkdir(parents=True, exist_ok=True)
        (self.cwd / "runs" / name / "best.py").write_text("a")
        return run_id

    def rows(self, name: str) -> dict[str, int]:
        """How many rows of each table belong to run `name` (all zero once it is deleted)."""
        if not self.url and not (self.cwd / "runs" / name / "evolve.db").exists():
            return {}
        factory = self.factory(name)
        with factory() as s:
            run_id = s.scalar(select(Run.id).where(Run.name == name))
            ours = select(Program.id).where(Program.run_id == run_id)
            counts = {"runs": s.scalar(select(func.count()).select_from(Run).where(Run.id == run_id))}
            for table in Base.metadata.sorted_tables:
                if "run_id" in table.c:
                    counts[table.name] = s.scalar(select(func.count()).select_from(table)
                                                  .where(table.c.run_id == run_id))
            counts["evaluations"] = s.scalar(select(func.count()).select_from(Evaluation)
                                             .where(Evaluation.program_id.in_(ours)))
        factory.kw["bind"].dispose()
        return {k: v for k, v in counts.items() if v}


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, monkeypatch) -> Store:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    if request.param == "sqlite":
        return Store(tmp_path, None)
    pgserver.require()
    return Store(tmp_path, pgserver.fresh_database("runs"))


def cli(capsys, store: Store, *args: str) -> tuple[int, str, str]:
    code = main([*store.args, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_paragraph(err: str) -> str:
    text = " ".join(err.split())
    assert err.strip().count("\n\n") == 0 and text.startswith("error:"), err
    return text


def test_runs_shows_stale_for_a_run_whose_process_is_gone(store, capsys):
    store.add("done")
    store.add("killed", status="running", holder="dead")
    store.add("orphan", status="running")  # running, and no lease at all (an older evolve was killed)
    store.add("alive", status="running", holder="live")
    code, out, _ = cli(capsys, store, "runs", "--json")
    assert code == 0
    assert {r["name"]: r["status"] for r in json.loads(out)} == {"done": "finished", "killed": "stale",
                                                                  "orphan": "stale", "alive": "running"}
    code, out, _ = cli(capsys, store, "runs")
    assert code == 0 and "stale" in out and "evolve resume NAME" in out


def test_the_table_never_cuts_a_run_name_at_80_columns(store, capsys, monkeypatch):
    store.add(LONG, status="running", holder="dead")
    store.add("short")
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli(capsys, store, "runs")
    assert code == 0 and LONG in out and "stale" in out
    table = [line for line in out.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert table and all(len(line) <= 80 for line in table), out


@pytest.mark.skipif(not shutil.which("script"), reason="needs script(1) for a pseudo-terminal")
def test_the_table_under_a_real_80_column_terminal(tmp_path):
    Store(tmp_path, None).add(LONG)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COLUMNS", None)
    done = subprocess.run(["script", "-qc", f"stty cols 80; {sys.executable} -m evolve runs", "/dev/null"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert LONG in done.stdout, done.stdout


def test_rm_deletes_every_row_and_the_folder(store, capsys):
    store.add("gone", status="failed")
    store.add("kept")
    before = store.rows("kept")
    assert store.rows("gone")["programs"] == 3
    code, out, err = cli(capsys, store, "runs", "rm", "gone", "--yes")
    assert code == 0, err
    assert "deleted run gone" in out
    assert store.rows("gone") == {} and not (store.cwd / "runs" / "gone").exists()
    assert store.rows("kept") == before and (store.cwd / "runs" / "kept" / "best.py").exists()
    code, out, _ = cli(capsys, store, "runs", "--json")
    assert [r["name"] for r in json.loads(out)] == ["kept"]


def test_rm_refuses_a_run_held_by_a_live_process(store, capsys):
    store.add("busy", status="running", holder="live")
    code, _, err = cli(capsys, store, "runs", "rm", "busy", "--yes")
    text = _one_paragraph(err)
    assert code == 2
    for part in ("run 'busy' is in use", f"pid {os.getpid()}", f"host {lease.HOST}", "Nothing was deleted",
                 "Wait for that process"):
        assert part in text, text
    assert store.rows("busy")["programs"] == 3 and (store.cwd / "runs" / "busy" / "best.py").exists()


def test_rm_asks_on_a_terminal_and_refuses_without_one(store, capsys, monkeypatch):
    store.add("a", status="failed")
    done = evolve(store.cwd, *store.args, "runs", "rm", "a")  # no terminal (stdin is not a tty), no --yes
    text = _one_paragraph(done.stderr)
    assert done.returncode == 2 and "not a terminal" in text and "runs rm a --yes" in text, done.stderr
    assert store.rows("a")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, _ = cli(capsys, store, "runs", "rm", "a")
    assert code == 1 and "about to delete 1 run" in out and "  a (failed, 3 programs)" in out
    assert "delete them? [y/N]" in out and "nothing deleted" in out
    assert store.rows("a")
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, out, _ = cli(capsys, store, "runs", "rm", "a")
    assert code == 0 and store.rows("a") == {}


def test_rm_of_an_unknown_run_deletes_nothing(store, capsys):
    store.add("real")
    code, _, err = cli(capsys, store, "runs", "rm", "real", "nope", "--yes")
    text = _one_paragraph(err)
    assert code == 2 and "no run named 'nope'" in text and "runs there: real" in text and "nothing was deleted" in text
    assert store.rows("real")
    code, _, err = cli(capsys, store, "runs", "rm", "../real", "--yes")
    assert code == 2 and "not a run name" in err


def test_prune_deletes_old_failed_and_stale_runs_only(store, capsys):
    long_ago = utcnow() - timedelta(days=30)
    store.add("old-failed", status="failed", when=long_ago)
    store.add("old-stale", status="running", when=long_ago, holder="dead")
    store.add("new-failed", status="failed")
    store.add("old-finished", status="finished", when=long_ago)
    store.add("old-live", status="running", when=long_ago, holder="live")
    code, out, _ = cli(capsys, store, "runs", "prune", "--status", "failed,stale", "--older-than", "7d", "--dry-run")
    assert code == 0 and "would delete 2 runs" in out and "nothing deleted" in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["old-failed", "old-stale"], out
    assert store.rows("old-failed")
    code, out, err = cli(capsys, store, "runs", "prune", "--status", "failed,stale", "--older-than", "7d", "--yes")
    assert code == 0, err
    assert store.rows("old-failed") == {} and store.rows("old-stale") == {}
    code, out, _ = cli(capsys, store, "runs", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["new-failed", "old-finished", "old-live"]
    code, out, _ = cli(capsys, store, "runs", "prune", "--older-than", "7d", "--yes")  # default: failed,stale
    assert code == 0 and "no runs match --status failed,stale --older-than 7d" in out
    code, out, _ = cli(capsys, store, "runs", "prune", "--status", "failed", "--yes")  # any age
    assert code == 0 and store.rows("new-failed") == {}


def test_prune_judges_age_by_the_last_activity(store, capsys):
    """A run created long ago whose programs (or heartbeat) are recent is not old."""
    run_id = store.add("busy-lately", status="failed", when=utcnow() - timedelta(days=30))
    factory = store.factory("busy-lately")
    with factory.begin() as s:
        s.execute(update(Program).where(Program.run_id == run_id, Program.iteration == 2).values(created_at=utcnow()))
    factory.kw["bind"].dispose()
    code, out, _ = cli(capsys, store, "runs", "prune", "--status", "failed", "--older-than", "7d", "--yes")
    assert code == 0 and "no runs match" in out and store.rows("busy-lately")


@pytest.mark.parametrize("flags, names", [
    (["--older-than", "7x"], "--older-than '7x' is not an age"),
    (["--older-than=-3d"], "--older-than '-3d' is not an age"),
    (["--older-than", "seven days"], "e.g. --older-than 90m, 12h or 7d"),
    (["--status", "faild"], "--status 'faild': 'faild' is not a status that can be pruned"),
    (["--status", ","], "give a comma-separated list of failed, stale, interrupted, finished"),
    (["--status", "running"], "--status running: a running run belongs to a live evolve process"),
])
def test_bad_prune_flags_exit_2_with_one_paragraph(store, capsys, flags, names):
    store.add("x", status="failed")
    code, _, err = cli(capsys, store, "runs", "prune", *flags, "--yes")
    assert code == 2 and names in _one_paragraph(err), err
    assert store.rows("x")


def test_rm_deletes_a_run_killed_while_its_database_was_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "half").mkdir(parents=True)
    (tmp_path / "runs" / "half" / "evolve.db").write_bytes(b"")  # created, never given its tables
    assert main(["runs", "rm", "half", "--yes"]) == 0
    assert "deleted run half" in capsys.readouterr().out and not (tmp_path / "runs" / "half").exists()
