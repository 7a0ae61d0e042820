"""`evolve runs`: list the runs (`stale` where their process is gone), delete some (`rm`), prune old ones."""
from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from evolve import prune, runs
from evolve.commands import _guard
from evolve.db import lease
from evolve.db.engine import redact
from evolve.problem import parse_duration
from evolve.tui import table as tbl

SHORT = {"evaluated": "eval", "failed": "fail", "duplicate": "dup", "infeasible": "infeas", "pending": "pend",
         "rejected": "rej"}  # the `by status` column, abbreviated when the terminal is narrow
STALE_NOTE = ("stale: the evolve process of the run is gone (killed, or its machine lost); `evolve resume NAME` "
              "continues it, `evolve runs prune --status stale` deletes it.")


def register(sub) -> None:
    listing = sub.add_parser("runs", help="list runs with problem, status, best score and counts; "
                             "`runs rm` and `runs prune` delete runs",
                             description="List the runs. A run shown `stale` is stored as running, but its "
                                         "evolve process is gone.")
    listing.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    listing.set_defaults(func=_guard(cmd_runs))
    actions = listing.add_subparsers(dest="runs_command", metavar="{rm,prune}")

    rm = actions.add_parser("rm", help="delete runs by name",
                            description="Delete runs: the folder runs/<name>/ (its database, best.py, reports) "
                                        "and, in a shared database (--db URL), every row of the run. A run that a "
                                        "live evolve process holds is refused.")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    rm.set_defaults(func=_guard(cmd_rm))

    pr = actions.add_parser("prune", help="delete runs by status and age",
                            description="Delete the runs with one of the given statuses whose last activity is "
                                        "older than --older-than. A run that a live process holds is never pruned.")
    pr.add_argument("--status", default="failed,stale",
                    help=f"comma-separated statuses to delete, of {', '.join(prune.PRUNABLE)} (default: failed,stale)")
    pr.add_argument("--older-than", metavar="AGE",
                    help="only runs idle for longer than this, e.g. 12h, 7d (default: any age)")
    pr.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    pr.add_argument("--dry-run", action="store_true", help="list the runs that would be deleted, delete nothing")
    pr.set_defaults(func=_guard(cmd_prune))


# --- listing ---------------------------------------------------------------------------------------

def cmd_runs(args, console: Console) -> int:
    data = runs.list_runs(args.runs_dir)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data:
        console.print(f"no runs in {_where(args)}; start one with `evolve start PROBLEM`.", highlight=False)
        return 0
    console.print(listing_table(data, console.width, f"runs in {_where(args)}"))
    if any(r["status"] == "stale" for r in data):
        console.print(STALE_NOTE, highlight=False)
    return 0


def listing_table(data: list[dict], width: int, title: str) -> Table:
    """The runs as a table that fits `width`: the counts are abbreviated, then dropped; names never cut."""
    keys = ["name", "problem", "status", "best", "programs", "counts"]
    labels = ["name", "problem", "status", "best score", "programs", "by status"]
    give_way = (("drop", "counts"), ("drop", "programs"), ("drop", "problem"), ("drop", "best"))
    keep = ("name", "status")

    def rows(short: bool) -> list[list[str]]:
        out = []
        for r in data:
            best = "-" if r["best_score"] is None else f"{r['best_score']:.6g}"
            counts = " ".join(f"{SHORT.get(k, k) if short else k}={v}" for k, v in sorted(r["counts"].items()))
            out.append([r["name"], r["problem"], r["status"], best, str(r["programs"]), counts])
        return out

    cells = rows(short=False)
    shown = tbl.fit(keys, labels, cells, width, give_way, keep)
    if len(shown) < len(keys):  # something gave way: try the short counts
        cells = rows(short=True)
        shown = tbl.fit(keys, labels, cells, width, give_way, keep)
    others = sum(w + 3 for i, w in shown if keys[i] != "name")
    t = Table(title=Text(title), min_width=min(len(title), width))
    for i, w in shown:
        if keys[i] == "name":  # in full; one longer than the screen folds onto a second line, never cut
            w = max(8, min(w, width - others - 4))
        t.add_column(Text(labels[i]), justify="right" if keys[i] in ("best", "programs") else "left",
                     width=w, no_wrap=keys[i] != "name", overflow="fold" if keys[i] == "name" else "ellipsis")
    for r in cells:
        t.add_row(*(Text(r[i]) for i, _ in shown))
    return t


def _where(args) -> str:
    return redact(args.db) if args.db else f"{args.runs_dir}/"


# --- deleting --------------------------------------------------------------------------------------

def cmd_rm(args, console: Console) -> int:
    targets = prune.find(args.runs_dir, args.names)
    _refuse_live(targets)
    return _delete(args, console, targets, f"runs rm {' '.join(f.name for f in targets)}")


def cmd_prune(args, console: Console) -> int:
    statuses = parse_statuses(args.status)
    older = parse_age(args.older_than)
    targets = prune.prunable(prune.survey(args.runs_dir), set(statuses), older)
    what = f"--status {','.join(statuses)}" + (f" --older-than {args.older_than}" if older is not None else "")
    if not targets:
        console.print(f"no runs match {what} in {_where(args)}; nothing to delete.", highlight=False)
        return 0
    if args.dry_run:
        console.print(f"would delete {_count(targets)} in {_where(args)} (--dry-run: nothing deleted):",
                      highlight=False)
        _print_targets(console, targets)
        return 0
    return _delete(args, console, targets, f"runs prune {what}")


def parse_statuses(text: str) -> list[str]:
    """`--status failed,stale` -> ["failed", "stale"]; RunError (one paragraph) for anything else."""
    given = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in given if s not in prune.PRUNABLE]
    if "running" in bad:
        raise runs.RunError("--status running: a running run belongs to a live evolve process and is never "
                            "pruned; stop it first, or prune the ones whose process is gone with --status stale.")
    if bad or not given:
        raise runs.RunError(f"--status {text!r}: {', '.join(repr(s) for s in bad) or 'no status'} is not a status "
                            f"that can be pruned; give a comma-separated list of {', '.join(prune.PRUNABLE)}, "
                            "e.g. --status failed,stale.")
    return given


def parse_age(text: str | None) -> float | None:
    """`--older-than 7d` -> seconds; RunError (one paragraph) for what is not a duration."""
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        raise runs.RunError(f"--older-than {text!r} is not an age; write a number with a unit, e.g. "
                            "--older-than 90m, 12h or 7d (s, m, h, d; a plain number is seconds).") from None


def _refuse_live(targets: list[prune.RunFacts]) -> None:
    for f in targets:
        if f.holder is not None and f.holder.live:
            raise lease.LeaseHeld(lease.held_message(f.name, f.holder, prune.DELETED), f.holder)


def _count(targets: list[prune.RunFacts]) -> str:
    return f"{len(targets)} run{'s' if len(targets) != 1 else ''}"


def _about(f: prune.RunFacts) -> str:
    return f"{f.name} ({f.status}, {f.programs} program{'s' if f.programs != 1 else ''})"


def _print_targets(console: Console, targets: list[prune.RunFacts]) -> None:
    for f in targets:
        console.print(f"  {_about(f)}", highlight=False, soft_wrap=True)


def _delete(args, console: Console, targets: list[prune.RunFacts], command: str) -> int:
    """Ask (on a terminal, unless --yes), then delete each run; the exit code."""
    where = _where(args)
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            raise runs.RunError(
                f"not deleting {_count(targets)} in {where} ({', '.join(_about(f) for f in targets)}): standard "
                f"input is not a terminal to confirm on. Pass --yes to delete without asking: "
                f"`evolve{' --db URL' if args.db else ''} {command} --yes`.")
        console.print(f"about to delete {_count(targets)} in {where}:", highlight=False)
        _print_targets(console, targets)
        answer = console.input(Text("delete them? [y/N] "))
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing deleted.")
            return 1
    done: list[str] = []
    for f in targets:
        try:
            removed = prune.remove(args.runs_dir, f.name)
        except (lease.LeaseHeld, runs.RunError):  # taken or deleted meanwhile: say what did go, then why not this
            if done:
                console.print(f"deleted {', '.join(done)} before stopping.", highlight=False)
            raise
        done.append(f.name)
        parts = [f"{removed.rows} rows in {where}"] if args.db else []
        parts += [f"{removed.folder}/"] if removed.folder else []
        console.print(f"deleted run {f.name} ({' and '.join(parts)})", highlight=False, soft_wrap=True)
    return 0
