"""Run leases on SQLite and PostgreSQL: refused while live, taken over when stale, kept alive by the
heartbeat, and of processes racing for one run exactly one wins."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from evolve.db import lease
from evolve.db.engine import DatabaseError
from evolve.db.lease import LeaseHeld
from evolve.db.models import Run, RunLease, utcnow
from tests.conftest import ROOT


def _run(factory, name="r", status="running") -> int:
    with factory.begin() as s:
        run = Run(name=name, problem="p", problem_path="/p.yaml", config={}, status=status)
        s.add(run)
        s.flush()
        return run.id


def _acquire(factory, run_id) -> lease.Lease:
    with factory.begin() as s:
        return lease.acquire(s, run_id)


def _age(factory, run_id, seconds: float) -> None:
    """Make the lease's last heartbeat `seconds` old."""
    with factory.begin() as s:
        s.execute(update(RunLease).where(RunLease.run_id == run_id)
                  .values(heartbeat_at=lease._now(s) - timedelta(seconds=seconds)))


def _row(factory, run_id):
    with factory() as s:
        return s.execute(select(RunLease.__table__).where(RunLease.run_id == run_id)).first()


def test_a_live_lease_is_refused_with_one_paragraph(factory):
    run_id = _run(factory, "alpha")
    mine = _acquire(factory, run_id)
    assert (mine.host, mine.pid) == (lease.HOST, os.getpid())
    with pytest.raises(LeaseHeld) as info:
        _acquire(factory, run_id)
    message = str(info.value)
    assert isinstance(info.value, DatabaseError) and "\n" not in message
    for part in ("run 'alpha'", f"pid {os.getpid()}", f"host {lease.HOST}", "since ", "last heartbeat 0 s ago",
                 "Nothing was changed", "Wait for that process", f"kill {os.getpid()}"):
        assert part in message, message
    assert info.value.holder.token == mine.token and _row(factory, run_id).token == mine.token


def test_a_refused_acquire_rolls_back_the_callers_transaction(factory):
    run_id = _run(factory, status="interrupted")
    _acquire(factory, run_id)
    with pytest.raises(LeaseHeld):
        with factory.begin() as s:
            s.execute(update(Run).where(Run.id == run_id).values(status="running"))
            lease.acquire(s, run_id)
    with factory() as s:
        assert s.get(Run, run_id).status == "interrupted"


def test_an_old_heartbeat_is_stale_and_taken_over(factory):
    run_id = _run(factory)
    first = _acquire(factory, run_id)
    _age(factory, run_id, lease.stale_after() + 5)
    with factory() as s:
        held = lease.holder(s, run_id)
        assert not held.live and held.age_s >= lease.stale_after()
        assert lease.effective_status(s, run_id, "running") == "stale"
    second = _acquire(factory, run_id)
    assert second.token != first.token and _row(factory, run_id).token == second.token
    with factory.begin() as s:
        assert not first.renew(s) and not first.release(s)  # the old holder finds it gone and deletes nothing
    assert _row(factory, run_id).token == second.token


def test_a_dead_holder_on_this_host_is_stale_at_once(factory, db_url):
    run_id = _run(factory)
    script = textwrap.dedent(f"""
        import os
        from evolve.db.engine import open_database
        from evolve.db import lease
        factory = open_database({db_url!r})
        with factory.begin() as s:
            lease.acquire(s, {run_id})
        factory.kw["bind"].dispose()
        print(os.getpid(), flush=True)
        os._exit(0)  # killed: never released
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _row(factory, run_id).pid == int(done.stdout)
    with factory() as s:
        held = lease.holder(s, run_id)
        assert held.age_s < lease.stale_after() and not held.live  # fresh heartbeat, but the pid is gone
        assert lease.effective_status(s, run_id, "running") == "stale"
    assert _acquire(factory, run_id).pid == os.getpid()


def test_a_reused_pid_is_stale_and_another_hosts_holder_is_judged_by_heartbeat(factory):
    run_id = _run(factory)
    _acquire(factory, run_id)
    machine = lease.process_identity().rpartition("/")[0]
    with factory.begin() as s:  # our own pid, but started at another moment: that process is gone
        s.execute(update(RunLease).values(process=f"{machine}/1"))
    with factory() as s:
        assert not lease.holder(s, run_id).live
    with factory.begin() as s:  # a pid that does not exist here, on another machine: alive as far as we know
        s.execute(update(RunLease).values(host="elsewhere", pid=2**22 + 7, process="other-boot/pid:[1]/5"))
    with factory() as s:
        assert lease.holder(s, run_id).live
    with pytest.raises(LeaseHeld, match="host elsewhere"):
        _acquire(factory, run_id)
    _age(factory, run_id, lease.stale_after() + 1)
    assert _acquire(factory, run_id).host == lease.HOST


def test_the_heartbeat_keeps_a_lease_live_past_stale_s_and_exit_releases_it(factory, monkeypatch):
    monkeypatch.setenv(lease.STALE_ENV, "1")
    assert lease.stale_after() == 1.0 and lease.heartbeat_every() == 0.25
    unkept, kept = _run(factory, "unkept"), _run(factory, "kept")
    _acquire(factory, unkept)
    mine = _acquire(factory, kept)
    with mine.keep(factory):
        time.sleep(2.5)
        with factory() as s:
            assert lease.effective_status(s, kept, "running") == "running"
            assert lease.effective_status(s, unkept, "running") == "stale"  # no heartbeat: stale though alive
        with pytest.raises(LeaseHeld):
            _acquire(factory, kept)
        assert not mine.lost.is_set()
        leaving = time.monotonic()
    assert time.monotonic() - leaving < 1.0  # the heartbeat thread stops promptly
    assert _row(factory, kept) is None
    with factory() as s:
        assert lease.effective_status(s, kept, "running") == "stale"
        assert lease.effective_status(s, kept, "finished") == "finished"


def test_keep_notices_a_takeover(factory, monkeypatch):
    monkeypatch.setenv(lease.STALE_ENV, "0.4")
    run_id = _run(factory)
    mine = _acquire(factory, run_id)
    called = []
    with mine.keep(factory, on_lost=lambda: called.append(1)):
        with factory.begin() as s:  # another process takes it over (e.g. after a long stall of ours)
            s.execute(update(RunLease).values(token="f" * 32))
        assert mine.lost.wait(3) and called == [1]
    assert _row(factory, run_id).token == "f" * 32  # exit deletes only our own grant


def test_effective_status(factory):
    run_id = _run(factory)
    with factory() as s:
        assert lease.holder(s, run_id) is None
        assert lease.effective_status(s, run_id, "running") == "stale"
        for status in ("finished", "failed", "interrupted"):
            assert lease.effective_status(s, run_id, status) == status
    _acquire(factory, run_id)
    with factory() as s:
        assert lease.effective_status(s, run_id, "running") == "running"
    with factory.begin() as s:
        assert lease.release(s, run_id)
    with factory() as s:
        assert lease.effective_status(s, run_id, "running") == "stale"


def test_stale_after_reads_the_environment(monkeypatch):
    for value, expected in (("3.5", 3.5), ("nonsense", lease.STALE_S), ("-1", lease.STALE_S)):
        monkeypatch.setenv(lease.STALE_ENV, value)
        assert lease.stale_after() == expected
    monkeypatch.delenv(lease.STALE_ENV)
    assert lease.stale_after() == lease.STALE_S and lease.heartbeat_every() == lease.HEARTBEAT_S


RACER = """
import json, sys, time
from evolve.db.engine import open_database
from evolve.db import lease
url, start, slot, ids = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
factory = open_database(url)
results = {}
for i, run_id in enumerate(ids):
    time.sleep(max(0.0, start + i * slot - time.time()))
    try:
        with factory.begin() as s:
            lease.acquire(s, run_id)
        results[run_id] = "won"
    except lease.LeaseHeld:
        results[run_id] = "held"
print(json.dumps(results), flush=True)
sys.stdin.read()  # the winners stay alive (their leases live) until every racer is done
"""


def test_processes_racing_for_a_run_exactly_one_wins(factory, db_url):
    rounds, racers = 16, 3
    ids = [_run(factory, f"race-{i}") for i in range(rounds)]
    for run_id in ids[::2]:  # half the rounds race to take over a stale lease
        with factory.begin() as s:
            s.add(RunLease(run_id=run_id, token="0" * 32, host="gone", pid=1, process=None,
                           acquired_at=utcnow(), heartbeat_at=utcnow() - timedelta(hours=1)))
    start = time.time() + 4  # time for every racer to import and connect
    procs = [subprocess.Popen([sys.executable, "-c", RACER, db_url, str(start), "0.25", json.dumps(ids)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(racers)]
    try:
        lines = [p.stdout.readline() for p in procs]
    finally:
        outs = [p.communicate(input="", timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    results = [json.loads(line) for line in lines]
    for run_id in ids:
        outcomes = sorted(r[str(run_id)] for r in results)
        assert outcomes == ["held"] * (racers - 1) + ["won"], (run_id, outcomes)
    with factory() as s:
        holders = {row.run_id: row.pid for row in s.execute(select(RunLease.__table__))}
    winners = {run_id: next(p.pid for p, r in zip(procs, results) if r[str(run_id)] == "won") for run_id in ids}
    assert holders == winners
