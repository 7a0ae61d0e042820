"""Live progress of a run: a rich progress bar on a terminal, plain log lines otherwise."""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evolve.db.models import Program


def short_error(error: str | None, width: int = 160) -> str:
    """The first and last lines of an error, joined: where it failed, then the final reason."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return " | ".join(lines[:1] + lines[-1:] if len(lines) > 1 else lines)[:width]


def _line(program: Program) -> str:
    score = f"score={program.score:.6g}" if program.score is not None else short_error(program.error)
    return f"#{program.id} {program.status:<10} {program.mutation:<28} {score}"


class PlainProgress:
    """One log line per recorded program (for pipes, CI and log files)."""

    def __init__(self, console: Console, total: int | None, done: int = 0):
        self.console, self.total, self.done = console, total, done
        self.counts: Counter = Counter()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def recorded(self, program: Program, best: float | None) -> None:
        self.counts[program.status] += 1
        if program.iteration > 0:
            self.done += 1
        of = f"/{self.total}" if self.total else ""
        best_text = f"{best:.6g}" if best is not None else "-"
        self.console.print(f"[{self.done}{of}] {_line(program)} | best {best_text}", markup=False, highlight=False, soft_wrap=True)


class RichProgress(PlainProgress):
    """A progress bar against the iteration budget with best score and status counts."""

    def __init__(self, console: Console, total: int | None, done: int = 0):
        super().__init__(console, total, done)
        self.bar = Progress(
            TextColumn("[bold]evolving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console, transient=False,
        )
        self.task = self.bar.add_task("evolve", total=total, completed=done, info="")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def recorded(self, program: Program, best: float | None) -> None:
        self.counts[program.status] += 1
        if program.iteration > 0:
            self.done += 1
        if program.score is not None and best is not None and program.score >= best:
            self.bar.console.print(f"new best: {_line(program)}", markup=False, highlight=False, soft_wrap=True)
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        best_text = f"{best:.6g}" if best is not None else "-"
        self.bar.update(self.task, completed=self.done, info=f"best {best_text} | {counts}")


def make_progress(console: Console, total: int | None, done: int = 0) -> PlainProgress:
    return (RichProgress if console.is_terminal else PlainProgress)(console, total, done)
