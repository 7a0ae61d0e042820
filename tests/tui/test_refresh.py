"""A refresh reads only what changed, and ends with the same picture as reading the whole run again."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import event

from evolve.db.engine import open_database, reader_of, sqlite_url
from evolve.db.models import LLMCall, Program
from evolve.tui import snapshot, summary
from tests.tui.fixture_db import code, make_run

T0 = datetime(2025, 1, 1, 12, 5, 0)


def _add(session, pid: int, **fields) -> None:
    base = dict(id=pid, run_id=1, iteration=pid - 1, parent_id=6, generation=5, island=pid % 2,
                mutation="offline:constant", code=code(pid, 1.0), code_hash=f"h{pid}", status="pending",
                created_at=T0 + timedelta(seconds=pid))
    session.add(Program(**{**base, **fields}))


def _picture(snap: snapshot.Snapshot) -> tuple:
    facts = summary.facts(snap)
    facts.pop("evaluations_per_minute")
    rows = [(r.id, r.status, r.score, r.parent_id, r.duplicate_of, r.model) for r in snap.rows]
    return facts, rows, dict(snap.children), [r.id for r in snap.improvements()], snap.best_curve()


def test_refresh_after_results_new_rows_and_credited_duplicates_equals_a_full_read(tmp_path):
    db = make_run(tmp_path / "runs", "demo")
    writer = open_database(sqlite_url(db))
    reader = reader_of(writer)
    with writer.begin() as session:  # a duplicate of the pending #7, not yet credited; a pending #9
        _add(session, 8, status="duplicate", duplicate_of=7, dedup_level="syntactic", evaluated_at=T0)
        _add(session, 9, island=1)
    old = snapshot.load(reader, 1)
    summary.render(old)  # what the live view does: its facts are computed, then carried
    with writer.begin() as session:
        seven = session.get(Program, 7)  # #7 scores best: its duplicate #8 is credited with the score
        seven.status, seven.score, seven.evaluated_at = "evaluated", 0.5, T0 + timedelta(seconds=20)
        seven.metrics = {"valid": True, "closeness": 0.5, "size": 1.0}
        session.get(Program, 8).score = 0.5
        session.get(Program, 9).status = "failed"
        session.get(Program, 9).error = "stage 'only': timeout: wall-clock limit"
        session.get(Program, 9).evaluated_at = T0 + timedelta(seconds=21)
        _add(session, 10, parent_id=7, island=1, status="evaluated", score=0.7, evaluated_at=T0 + timedelta(seconds=22),
             metrics={"valid": True, "closeness": 0.7, "size": 2.0})
        _add(session, 11, parent_id=10)
        session.flush()
        session.add(LLMCall(run_id=1, program_id=10, model="fake/model-b", prompt_tokens=10, completion_tokens=5,
                            cost_usd=0.5, latency_s=1.0, outcome="ok"))
    statements = []

    def seen(*args):
        statements.append(args[2])

    engine = reader.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    fresh = snapshot.refresh(reader, old)
    event.remove(engine, "before_cursor_execute", seen)
    whole = snapshot.load(reader, 1)
    assert _picture(fresh) == _picture(whole)
    assert fresh.best.id == 10 and fresh.by_id[8].score == 0.5 and fresh.by_id[7].model is None
    assert fresh.spend["fake/model-b"]["calls"] == 1 and fresh.by_id[10].model == "fake/model-b"
    assert fresh.counts() == whole.counts() and fresh.failure_reasons() == whole.failure_reasons()
    reads = [s for s in statements if "FROM programs" in s]
    assert reads and all("id >" in s or "id IN" in s or "duplicate_of IN" in s for s in reads), reads


def test_refresh_with_nothing_new_keeps_the_picture(tmp_path):
    db = make_run(tmp_path / "runs", "demo")
    reader = reader_of(open_database(sqlite_url(db)))
    old = snapshot.load(reader, 1)
    summary.render(old)
    again = snapshot.refresh(reader, old)
    assert _picture(again) == _picture(old)
