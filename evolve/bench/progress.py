"""The bench's progress view: one table of every run (pending, running, done) with its best score.

On a terminal the table redraws in place (rich Live), cut to the screen's height with the running
runs first; piped, each start and end is one line and the whole table is printed at the end.
"""
from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from evolve.tui import table as tbl

STYLE = {"pending": "dim", "running": "bold cyan", "held": "yellow", "finished": "green", "failed": "red",
         "error": "red", "interrupted": "yellow"}
ORDER = ("running", "held", "error", "failed", "interrupted", "finished", "pending")  # on a short screen


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.5g}"


def headline(name: str, jobs, elapsed: float) -> Text:
    counts = {}
    for j in jobs:
        counts[j.state] = counts.get(j.state, 0) + 1
    parts = [f"{counts.pop('finished', 0)}/{len(jobs)} finished"]
    parts += [f"{n} {state}" for state in ORDER if (n := counts.get(state))]
    return Text.assemble(("bench ", "bold"), (name, "bold"), ": " + ", ".join(parts) + f" · {clock(elapsed)}")


COLUMNS = (("problem", "problem"), ("arm", "arm"), ("seed", "seed"), ("state", "state"),
           ("children", "iter"), ("best", "best"), ("time", "time"))
GIVE_WAY = (("shrink", "problem"), ("shrink", "arm"), ("drop", "time"), ("drop", "children"))
KEEP = ("problem", "arm", "seed", "state", "best")


def table(jobs, now: float | None = None, limit: int | None = None, width: int = 80) -> Table:
    """The runs as rows that fit `width` (problem and arm names shrink first); with `limit`, the first
    `limit` by ORDER and a line counting the rest."""
    shown = list(jobs)
    if limit is not None and len(shown) > limit:
        shown = sorted(shown, key=lambda j: ORDER.index(j.state))[:max(1, limit - 1)]
        shown.sort(key=lambda j: jobs.index(j))
    rows = [_cells(j, now) for j in shown]
    if len(shown) < len(jobs):
        rows.append([f"... {len(jobs) - len(shown)} more", "", "", "", "", "", ""])
    keys, labels = [k for k, _ in COLUMNS], [label for _, label in COLUMNS]
    t = Table()
    fitted = tbl.fit(keys, labels, rows, width, GIVE_WAY, KEEP)
    for i, w in fitted:
        t.add_column(labels[i], width=w, no_wrap=True, overflow="ellipsis",
                     justify="left" if keys[i] in ("problem", "arm", "state") else "right")
    for row in rows:
        t.add_row(*(Text(row[i], STYLE.get(row[i], "") if keys[i] == "state" else "") for i, _ in fitted))
    return t


def _cells(j, now: float | None) -> list[str]:
    done = f"{j.children}/{j.budget}" if j.budget else str(j.children)
    spent = None if j.started is None else ((j.ended or now or j.started) - j.started)
    return [j.planned.problem, j.planned.arm, str(j.planned.seed), j.state, done, score(j.best), clock(spent)]


class View:
    """Progress of one bench on `console`: live on a terminal, line by line when piped."""

    def __init__(self, name: str, console: Console):
        self.name, self.console = name, console
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(console=console, refresh_per_second=4, transient=True, auto_refresh=False)
            self.live.start()

    def _render(self, jobs, elapsed: float, limit: int | None):
        return Group(headline(self.name, jobs, elapsed), table(jobs, time.monotonic(), limit, self.console.width))

    def update(self, jobs, elapsed: float) -> None:
        if self.live is not None:
            self.live.update(self._render(jobs, elapsed, max(3, self.console.height - 6)), refresh=True)

    def event(self, job, elapsed: float) -> None:
        """A run started or ended: one line when piped (the live table shows it on a terminal)."""
        if self.live is not None:
            return
        what = job.state if job.state != "running" else ("resumed" if job.note == "resumed" else "started")
        tail = "" if job.state == "running" else f"  best {score(job.best)}, {job.children} children"
        note = f" ({job.note})" if job.note and job.state not in ("running", "finished") else ""
        self.console.print(f"[{clock(elapsed):>6}] {what:<11} {job.planned.run}{tail}{note}", markup=False,
                           highlight=False, soft_wrap=True)

    def close(self, jobs, elapsed: float, interrupted: bool = False) -> None:
        if self.live is not None:
            self.live.stop()
        self.console.print(self._render(jobs, elapsed, None))
        for j in jobs:  # why a run did not finish (the end of its log), which the table has no room for
            if j.state in ("failed", "error", "interrupted") and j.note and j.note not in ("resumed", j.state):
                self.console.print(f"{j.planned.run}: {j.state}: {j.note}", markup=False, highlight=False,
                                   soft_wrap=True)
        if interrupted:
            self.console.print(f"stopped: the runs in flight are resumable; `evolve bench --resume {self.name}` "
                               "continues the bench", markup=False, highlight=False)
