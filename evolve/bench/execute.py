"""Run a bench: every planned run as an ordinary `evolve start` (or `evolve resume`) process, K at a time.

Each run is its own process (`python -m evolve --db URL start PROBLEM --name RUN --set K=V ...`), so
runs are isolated from one another and from the bench, and have the normal run semantics: budget,
lease, Ctrl-C, resume. The database says what is left to do, which makes the bench resumable as a
whole: a run it does not hold is started, a finished (or failed) one is skipped, any other (killed,
interrupted, stopped while pending) is resumed with `evolve resume`, and one that another live
process owns is waited for.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, text

from evolve import overrides
from evolve.bench.manifest import Bench
from evolve.bench.suite import Planned
from evolve.db import lease
from evolve.db.engine import open_database

DONE = ("finished", "failed", "diverged")  # a run in one of these is skipped on resume
POLL_S = 0.5
GRACE_S = 3.0  # after Ctrl-C: time for the runs (which got it from the terminal too) to stop themselves
STOP_S = 15.0  # then they are sent SIGINT, and after this long SIGKILL (they stay resumable)


@dataclass
class Job:
    """One planned run as the bench sees it now."""

    planned: Planned
    state: str = "pending"  # pending | running | held | finished | failed | interrupted | error
    programs: int = 0
    best: float | None = None
    note: str = ""  # the stop reason, or why it failed
    proc: subprocess.Popen | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def budget(self) -> int | None:
        return self.planned.settings.get("evolution.budget.iterations")

    @property
    def children(self) -> int:
        return max(0, self.programs - 1)  # the starting program is not a child


def survey(factory, names: list[str]) -> dict[str, dict]:
    """name -> status as shown (a killed run is `stale`), stop reason, programs and best score."""
    query = text("SELECT r.id, r.name, r.status, r.stop_reason, COUNT(p.id) AS programs, MAX(p.score) AS best "
                 "FROM runs r LEFT JOIN programs p ON p.run_id = r.id WHERE r.name IN :names "
                 "GROUP BY r.id, r.name, r.status, r.stop_reason").bindparams(bindparam("names", expanding=True))
    with factory() as session:
        rows = session.execute(query, {"names": names}).mappings().all()
        return {r["name"]: {**r, "status": lease.effective_status(session, r["id"], r["status"])} for r in rows}


def command(bench: Bench, job: Job, resume: bool) -> list[str]:
    head = [sys.executable, "-m", "evolve", "--runs-dir", str(bench.runs_dir.resolve()), "--db", bench.db_url]
    if resume:
        return head + ["resume", job.planned.run]  # the run remembers its --set values and budget
    sets = [a for k, v in job.planned.settings.items() for a in ("--set", overrides.shown(k, v))]
    return head + ["start", job.planned.problem_path, "--name", job.planned.run, *sets]


class Executor:
    """Launch, watch and collect the runs of `bench`, `parallel` at a time, reporting to `view`."""

    def __init__(self, bench: Bench, parallel: int, view):
        self.bench, self.parallel, self.view = bench, parallel, view
        self.jobs = [Job(p) for p in bench.runs]
        open_database(bench.db_url).kw["bind"].dispose()  # created and migrated once, before the runs race to it
        self.reader = open_database(bench.db_url, create=False, readonly=True)
        self.t0 = time.monotonic()

    def run(self) -> int:
        """0 when every run finished, 1 when one failed, 130 when stopped by Ctrl-C (resumable)."""
        self._refresh()
        try:
            self._loop()
        except KeyboardInterrupt:
            self._stop()
            self._refresh()
            self.view.close(self.jobs, time.monotonic() - self.t0, interrupted=True)
            return 130
        finally:
            self.reader.kw["bind"].dispose()
        self.view.close(self.jobs, time.monotonic() - self.t0)
        return 0 if all(j.state == "finished" for j in self.jobs) else 1

    # --- the loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        self.bench.logs.mkdir(parents=True, exist_ok=True)
        todo = [j for j in self.jobs if j.state not in ("finished", "failed")]
        while todo or self._live():
            for job in [j for j in self._live() if j.proc.poll() is not None]:
                self._ended(job)
            while todo and len(self._live()) < self.parallel:
                ready = next((j for j in todo if j.state != "held"), None)
                if ready is None:
                    break
                todo.remove(ready)
                self._launch(ready)
            self._refresh()
            todo = [j for j in todo if j.state not in ("finished", "failed")]  # a held one may have finished
            self.view.update(self.jobs, time.monotonic() - self.t0)
            time.sleep(POLL_S)

    def _live(self) -> list[Job]:
        return [j for j in self.jobs if j.proc is not None and j.ended is None]

    def _launch(self, job: Job) -> None:
        resume = job.state != "pending"  # in the database already: killed, interrupted or left pending
        argv = command(self.bench, job, resume)
        with open(self._log(job), "a", encoding="utf-8") as log:  # the child keeps its own copy of the file
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            job.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "COLUMNS": "100"})
        job.state, job.started, job.note = "running", time.monotonic(), "resumed" if resume else ""
        self.view.event(job, time.monotonic() - self.t0)

    def _ended(self, job: Job) -> None:
        job.ended = time.monotonic()
        got = survey(self.reader, [job.planned.run]).get(job.planned.run)
        status = got["status"] if got else None
        if status == "finished":
            job.state, job.note = "finished", got["stop_reason"] or ""
        elif status in ("failed", "diverged"):
            job.state, job.note = "failed", got["stop_reason"] or _last_line(self._log(job))
        elif status is None:
            job.state, job.note = "error", _last_line(self._log(job))
        else:
            job.state, job.note = "interrupted", (got["stop_reason"] or _last_line(self._log(job)))
        if got:
            job.programs, job.best = got["programs"], got["best"]
        self.view.event(job, job.ended - self.t0)

    def _log(self, job: Job) -> Path:
        return self.bench.logs / f"{job.planned.run}.log"

    def _refresh(self) -> None:
        """Counts and best scores from the database; the state of the runs this bench is not running."""
        found = survey(self.reader, [j.planned.run for j in self.jobs])
        for job in self.jobs:
            got = found.get(job.planned.run)
            if got is None:
                continue
            job.programs, job.best = got["programs"], got["best"]
            if job.proc is None:  # (the state of a run this bench ran is what its process left: _ended)
                job.state = _idle_state(got["status"])

    def _stop(self) -> None:
        """Ctrl-C: let the runs stop themselves (they saw it too on a terminal), then ask, then kill."""
        deadline = time.monotonic() + GRACE_S
        try:
            while self._running() and time.monotonic() < deadline:
                time.sleep(0.1)
            for job in self._running():
                job.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + STOP_S
            while self._running() and time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        for job in self._running():
            job.proc.kill()
        for job in self._live():
            job.proc.wait()
            self._ended(job)

    def _running(self) -> list[Job]:
        return [j for j in self._live() if j.proc.poll() is None]


def _idle_state(status: str) -> str:
    """The state of a run in the database that this bench is not running: done, held by another live
    process (waited for), or to be resumed (killed: `stale`; `interrupted`; stopped while being created)."""
    if status == "finished":
        return "finished"
    if status in DONE:
        return "failed"
    return "held" if status == "running" else "interrupted"


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    return next((line for line in reversed(lines) if line), "").removeprefix("error: ")
