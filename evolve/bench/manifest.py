"""A bench on disk: runs/bench-NAME/ holds bench.json (the planned runs and where their database is),
a copy of the suite file, the runs' logs and, by default, the database of all its runs (bench.db).

bench.json is written once, when the bench is created, so `evolve bench --resume NAME` and
`evolve bench report NAME` see the suite as it was run even if the file changed since.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evolve.bench.references import Reference
from evolve.bench.suite import Planned, Suite
from evolve.db.engine import sqlite_url
from evolve.runs import RunError

MANIFEST = "bench.json"
# not evolve.db: runs/<x>/evolve.db is a single run's database to every other command (`evolve runs`, and
# the newest-run default of `status` or `leaderboard`), which would take the bench's folder for a broken run
DB_FILE = "bench.db"


class BenchError(RunError):
    """A bench cannot be created or found; the message says what to do."""


def folder(runs_dir: Path, name: str) -> Path:
    return Path(runs_dir) / f"bench-{name}"


@dataclass
class Bench:
    name: str
    folder: Path
    db_url: str
    suite_file: str
    runs: list[Planned]
    references: list[Reference] = field(default_factory=list)
    created_at: str = ""
    description: str = ""  # the suite's
    arm_specs: list[dict] = field(default_factory=list)  # each arm's name, settings and description, as written

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def runs_dir(self) -> Path:
        """Where the runs' own folders go (best.py): inside the bench's folder."""
        return self.folder

    def problems(self) -> list[str]:
        return list(dict.fromkeys(p.problem for p in self.runs))

    def arms(self) -> list[str]:
        return list(dict.fromkeys(p.arm for p in self.runs))

    def seeds(self) -> list[int]:
        return sorted({p.seed for p in self.runs})


def create(suite: Suite, name: str, runs_dir: Path, db_url: str | None) -> Bench:
    """Write runs/bench-NAME/ for `suite`; BenchError when a bench of that name exists."""
    where = folder(runs_dir, name)
    if (where / MANIFEST).exists():
        raise BenchError(f"a bench named '{name}' already exists in {where}/. Continue it with "
                         f"`evolve bench --resume {name}`, report it with `evolve bench report {name}`, "
                         "or pick another --name.")
    where.mkdir(parents=True, exist_ok=True)
    bench = Bench(name, where, db_url or sqlite_url(where / DB_FILE), str(suite.path.resolve()), suite.plan(name),
                  suite.references, datetime.now().isoformat(timespec="seconds"), suite.spec.description or "",
                  [a.model_dump(mode="json") for a in suite.spec.arms])
    too_long = [p.run for p in bench.runs if len(p.run) > 200]
    if too_long:
        raise BenchError(f"run name {too_long[0]} is longer than 200 characters; give a shorter --name or arm name.")
    (where / "suite.yaml").write_text(suite.text, encoding="utf-8")
    _write(bench)
    return bench


def _write(bench: Bench) -> None:
    data = {"name": bench.name, "db_url": bench.db_url, "suite_file": bench.suite_file,
            "created_at": bench.created_at, "runs": [p.as_dict() for p in bench.runs],
            "references": [r.__dict__ for r in bench.references], "description": bench.description,
            "arms": bench.arm_specs}
    tmp = bench.folder / f"{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, bench.folder / MANIFEST)  # all or nothing: a kill here leaves no half-written manifest


def load(runs_dir: Path, name: str) -> Bench:
    where = folder(runs_dir, name)
    path = where / MANIFEST
    if not path.is_file():
        benches = Path(runs_dir).glob(f"bench-*/{MANIFEST}")
        known = ", ".join(sorted(p.parent.name.removeprefix("bench-") for p in benches))
        raise BenchError(f"no bench named '{name}' in {runs_dir}/ (benches there: {known or 'none'}). Start one "
                         "with `evolve bench SUITE.yaml --name NAME`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Bench(data["name"], where, data["db_url"], data.get("suite_file", ""),
                     [Planned(**p) for p in data["runs"]], [Reference(**r) for r in data.get("references", [])],
                     data.get("created_at", ""), data.get("description", ""), data.get("arms", []))
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path} is not a bench manifest evolve can read ({exc}); it was written by "
                         "`evolve bench`: restore it, or start the suite again under another --name.") from None
