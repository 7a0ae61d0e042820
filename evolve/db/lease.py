"""One owner per run: a lease row (host, pid, heartbeat) that no second `evolve` takes while it lives.

`acquire` takes the lease inside the caller's write transaction (the one that marks the run
running): SQLite serialises writers with BEGIN IMMEDIATE, and on PostgreSQL the run's row is locked
first (SELECT ... FOR UPDATE), so of two processes racing for one run exactly one wins. `Lease.keep`
renews the heartbeat from a daemon thread, each beat its own short transaction, so a busy event loop
never lets the lease lapse; on exit it lets go. A lease is stale, and the next `acquire` takes it
over, when its heartbeat is older than `stale_after()` seconds, or when its holder ran on this
machine and that process is gone (or its pid now belongs to another process).
Times are the database's clock on PostgreSQL (hosts may disagree) and this machine's on SQLite.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import delete, insert, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from evolve.db.engine import DatabaseError
from evolve.db.models import Run, RunLease, utcnow

STALE_S = 20.0  # a heartbeat older than this: the holder is gone (or cut off), the lease may be taken over
HEARTBEAT_S = 2.0  # how often the holder renews it
STALE_ENV = "EVOLVE_LEASE_STALE_S"  # overrides STALE_S (tests shorten it)
HOST = socket.gethostname()
log = logging.getLogger(__name__)


def stale_after() -> float:
    """Seconds without a heartbeat after which a lease is stale: $EVOLVE_LEASE_STALE_S, else STALE_S."""
    try:
        value = float(os.environ.get(STALE_ENV, STALE_S))
    except ValueError:
        return STALE_S
    return value if value > 0 else STALE_S


def heartbeat_every() -> float:
    """Seconds between heartbeats: HEARTBEAT_S, or often enough for a shortened stale_after()."""
    return min(HEARTBEAT_S, stale_after() / 4)


class LeaseHeld(DatabaseError):
    """The run is owned by a live process; the message (one paragraph) says who, since when, what to do."""

    def __init__(self, message: str, holder: Holder):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """Who holds a run's lease, as read from the database, and whether that holder is alive."""

    run_id: int
    token: str
    host: str
    pid: int
    process: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    age_s: float  # seconds since the last heartbeat
    live: bool

    def describe(self) -> str:
        return (f"held by pid {self.pid} on host {self.host} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC, "
                f"last heartbeat {self.age_s:.0f} s ago")


def held_message(name: str, holder: Holder, outcome: str = "Nothing was changed") -> str:
    """The one paragraph that refuses to touch run `name` while `holder` owns it."""
    return (f"run '{name}' is in use by another evolve process: {holder.describe()}. {outcome}. Wait for that "
            f"process to finish, or stop it (Ctrl-C in its terminal, or `kill {holder.pid}` on {holder.host}) "
            f"and run the command again; a lease whose heartbeat stops is taken over after {stale_after():.0f} s.")


# --- which process holds it: host, pid, and an identity that survives pid reuse ---------------------------

def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _machine() -> str | None:
    """This boot of this machine and this pid namespace: where a pid means the same process."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}" if boot else None


def _start_tick(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None when it is gone or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state is field 3, starttime field 22
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def process_identity(pid: int | None = None) -> str | None:
    """'<boot id>/<pid namespace>/<start tick>' of a process on this machine (None where /proc is missing)."""
    machine, tick = _machine(), _start_tick(os.getpid() if pid is None else pid)
    return f"{machine}/{tick}" if machine and tick else None


def _gone(host: str, pid: int, process: str | None) -> bool:
    """True when the holder ran on this machine and no longer runs (or its pid is another process now)."""
    if host != HOST:
        return False
    machine = _machine()
    if process and machine:
        held_machine, _, tick = process.rpartition("/")
        if held_machine != machine:  # another boot, or another container with this host name
            return False
        return _start_tick(pid) != tick
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _now(session: Session) -> datetime:
    """The time leases are judged by (naive UTC): the server's clock on PostgreSQL, this machine's on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(text("SELECT timezone('UTC', clock_timestamp())"))
    return utcnow()


def _has_leases(session: Session) -> bool:
    """Whether the database has the run_leases table (an older one, opened read-only, may not)."""
    return inspect(session.connection()).has_table(RunLease.__tablename__)


# --- reading, taking and letting go --------------------------------------------------------------------

def holder(session: Session, run_id: int, now: datetime | None = None) -> Holder | None:
    """Who holds run `run_id`'s lease (live or stale), or None when nobody does."""
    if not _has_leases(session):
        return None
    row = session.execute(select(RunLease.__table__).where(RunLease.run_id == run_id)).first()
    if row is None:
        return None
    now = now or _now(session)
    age = max(0.0, (now - row.heartbeat_at).total_seconds())
    live = age <= stale_after() and not _gone(row.host, row.pid, row.process)
    return Holder(row.run_id, row.token, row.host, row.pid, row.process, row.acquired_at, row.heartbeat_at,
                  age, live)


def effective_status(session: Session, run_id: int, status: str) -> str:
    """`stale` for a run stored as running that no live lease holds (its process was killed); else `status`.

    A database without the lease table (an older schema, opened read-only) cannot tell: `status` as stored.
    """
    if status != "running" or not _has_leases(session):
        return status
    held = holder(session, run_id)
    return "running" if held is not None and held.live else "stale"


def acquire(session: Session, run_id: int) -> Lease:
    """Take run `run_id`'s lease in the caller's write transaction; LeaseHeld when a live process holds it.

    A stale lease is taken over. The lease is the caller's once its transaction commits; keep it
    alive with `Lease.keep(factory)`.
    """
    if session.get_bind().dialect.name == "postgresql":  # a racing acquire waits here until we commit
        session.execute(select(Run.id).where(Run.id == run_id).with_for_update())
    now = _now(session)
    held = holder(session, run_id, now)
    if held is not None:
        if held.live:
            name = session.scalar(select(Run.name).where(Run.id == run_id)) or f"#{run_id}"
            raise LeaseHeld(held_message(name, held), held)
        log.info("run %s: taking over the stale lease of pid %s on %s", run_id, held.pid, held.host)
        session.execute(delete(RunLease).where(RunLease.run_id == run_id))
    lease = Lease(run_id, uuid.uuid4().hex, HOST, os.getpid(), now)
    session.execute(insert(RunLease).values(run_id=run_id, token=lease.token, host=lease.host, pid=lease.pid,
                                            process=process_identity(), acquired_at=now, heartbeat_at=now))
    return lease


def release(session: Session, run_id: int, token: str | None = None) -> bool:
    """Delete run `run_id`'s lease (only the grant `token`, when given); whether a row went."""
    query = delete(RunLease).where(RunLease.run_id == run_id)
    if token is not None:
        query = query.where(RunLease.token == token)
    return session.execute(query).rowcount > 0


@dataclass
class Lease:
    """This process's hold on one run. `lost` is set when another process took it over."""

    run_id: int
    token: str
    host: str
    pid: int
    acquired_at: datetime
    lost: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def renew(self, session: Session) -> bool:
        """Move the heartbeat to now; False when the lease is no longer ours."""
        result = session.execute(update(RunLease).where(RunLease.run_id == self.run_id,
                                                        RunLease.token == self.token)
                                 .values(heartbeat_at=_now(session)))
        return result.rowcount > 0

    def release(self, session: Session) -> bool:
        """Let go, in the caller's transaction (e.g. the one that records how the run ended)."""
        return release(session, self.run_id, self.token)

    @contextmanager
    def keep(self, factory: sessionmaker[Session], on_lost: Callable[[], None] | None = None,
             every: float | None = None) -> Iterator[Lease]:
        """Renew the heartbeat every `every` s (default heartbeat_every()) while inside; release on exit.

        `on_lost` is called (from the heartbeat thread) if another process takes the lease over.
        """
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(factory, stop, every or heartbeat_every(), on_lost),
                                name=f"evolve-lease-{self.run_id}", daemon=True)
        beat.start()
        try:
            yield self
        finally:
            stop.set()
            beat.join(timeout=5)
            try:
                with factory.begin() as session:
                    self.release(session)
            except Exception as exc:  # the database is gone: the lease goes stale by itself
                log.warning("run %s: could not release the lease: %s", self.run_id, exc)

    def _beat(self, factory: sessionmaker[Session], stop: threading.Event, every: float,
              on_lost: Callable[[], None] | None) -> None:
        failures = 0
        while not stop.wait(every):
            try:
                with factory.begin() as session:
                    ours = self.renew(session)
            except Exception as exc:  # busy or unreachable: try again; only a long outage makes it stale
                failures += 1
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "run %s: lease heartbeat failed (%d in a row): %s", self.run_id, failures, exc)
                continue
            failures = 0
            if not ours:
                log.warning("run %s: the lease was taken over by another process", self.run_id)
                self.lost.set()
                if on_lost is not None:
                    on_lost()
                return
