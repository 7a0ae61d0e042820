"""Live progress of a run: a rich display on a terminal, plain log lines otherwise.

The controller calls `recorded(program, best)` after each program and, when it has
one, `note(text)` for events such as migrations. With a database session factory
and the run, the rich display also shows what only the database knows: counts by
status, failures by reason, spend by model against `max_usd`, best per island and
the last improvements (re-read at most once a second; read-only, short reads).
"""
from __future__ import annotations

import threading
import time
from collections import Counter

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from evolve.db.engine import reader_of
from evolve.db.models import Program

REFRESH_S = 1.0


def short_error(error: str | None, width: int = 160) -> str:
    """The first and last lines of an error, joined: where it failed, then the final reason."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return " | ".join(lines[:1] + lines[-1:] if len(lines) > 1 else lines)[:width]


def _line(program: Program) -> str:
    score = f"score={program.score:.6g}" if program.score is not None else short_error(program.error)
    if getattr(program, "duplicate_of", None) is not None:
        score = f"same as #{getattr(program, 'original_number', program.duplicate_of)}"
    return f"#{program.iteration + 1} {program.status:<10} {program.mutation:<28} {score}"  # the run's numbering


class PlainProgress:
    """One log line per recorded program (for pipes, CI and log files)."""

    def __init__(self, console: Console, total: int | None, done: int = 0, factory=None, run=None):
        self.console, self.total, self.done = console, total, done
        self.factory, self.run = factory, run
        self.counts: Counter = Counter()
        self.best: float | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.goodbye()
        return False

    def _count(self, program: Program, best: float | None) -> bool:
        """Update counters; True when this program is a new best."""
        self.counts[program.status] += 1
        if program.iteration > 0:
            self.done += 1
        improved = program.score is not None and (self.best is None or program.score > self.best)
        if best is not None:
            self.best = best if self.best is None else max(self.best, best)
        return improved

    def recorded(self, program: Program, best: float | None) -> None:
        improved = self._count(program, best)
        of = f"/{self.total}" if self.total else ""
        best_text = f"{best:.6g}" if best is not None else "-"
        mark = " (new best)" if improved and program.iteration > 0 else ""
        self._say(f"[{self.done}{of}] {_line(program)} | best {best_text}{mark}")

    def note(self, text: str) -> None:
        self._say(text)

    def _say(self, line: str) -> None:
        """A log line as it is, flushed (rich's print of a plain line cost a quarter of a millisecond)."""
        out = self.console.file
        out.write(line + "\n")
        out.flush()

    def goodbye(self) -> None:
        """On the way out: programs left pending are evaluated again, once, on resume."""
        pending = self._pending()
        if pending and self.run is not None:
            self.console.print(f"{pending} program(s) were being evaluated and are kept as pending; "
                               f"`evolve resume {self.run.name}` evaluates them again.", markup=False,
                               highlight=False)

    def _pending(self) -> int:
        if self.factory is None or self.run is None:
            return 0
        try:
            from sqlalchemy import func, select

            with self.factory() as session:
                return session.scalar(select(func.count()).select_from(Program).where(
                    Program.run_id == self.run.id, Program.status == "pending")) or 0
        except Exception:  # the summary is a courtesy; never fail a run over it
            return 0


class RichProgress(PlainProgress):
    """A progress bar against the iteration budget, with the run's state from the database below it.

    The database view is read by a thread of its own, through a read-only session that never takes
    the write lock, and only what changed since the last read: the controller never waits on it.
    """

    def __init__(self, console: Console, total: int | None, done: int = 0, factory=None, run=None):
        super().__init__(console, total, done, factory, run)
        self.bar = Progress(
            TextColumn("[bold]evolving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}", markup=False), console=console,
        )
        self.task = self.bar.add_task("evolve", total=total, completed=done, info="")
        self.panel = Text("")
        self.notes: list[str] = []
        self.snap = None
        self.interval = REFRESH_S
        self.stopping = threading.Event()
        self.reader = reader_of(factory) if factory is not None and run is not None else None
        self.thread = threading.Thread(target=self._follow, name="evolve-live-view", daemon=True)
        self.live = Live(self._view(), console=console, refresh_per_second=4, transient=False)

    def _view(self) -> Group:
        return Group(self.bar, self.panel, *(Text(n, style="dim") for n in self.notes[-3:]))

    def __enter__(self):
        self.live.__enter__()
        if self.reader is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=2)
        if self.reader is not None:
            self.snap = None  # held-out and re-evaluated scores changed old rows: read all once more
            self._read()
            self.reader.kw["bind"].dispose()
        self.live.__exit__(*exc)
        self.goodbye()
        return False

    def recorded(self, program: Program, best: float | None) -> None:
        improved = self._count(program, best)
        if improved and program.iteration > 0:
            self.live.console.print(f"new best: {_line(program)}", markup=False, highlight=False, soft_wrap=True)
        best_text = f"{best:.6g}" if best is not None else "-"
        self.bar.update(self.task, completed=self.done, info=f"best {best_text}")  # counts: in the panel

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.live.update(self._view())

    def _follow(self) -> None:
        """Re-read the run's state until the run ends; a slow read spaces the next ones out."""
        self._read()
        while not self.stopping.wait(self.interval):
            self._read()

    def _read(self) -> None:
        from evolve.tui import snapshot, summary

        began = time.monotonic()
        try:
            self.snap = (snapshot.load(self.reader, self.run.id) if self.snap is None
                         else snapshot.refresh(self.reader, self.snap))
            self.panel = summary.render(self.snap, improvements=3)
        except Exception as exc:  # the view is a courtesy: keep the bar going, say why once
            self.panel = Text(f"(run state unavailable: {exc})".splitlines()[0], style="dim")
        self.interval = max(REFRESH_S, 5 * (time.monotonic() - began))  # at most a sixth of the time
        self.live.update(self._view())


def make_progress(console: Console, total: int | None, done: int = 0, factory=None, run=None) -> PlainProgress:
    """The rich display on a terminal, plain lines otherwise; `factory` and `run` add the database view."""
    return (RichProgress if console.is_terminal else PlainProgress)(console, total, done, factory, run)
