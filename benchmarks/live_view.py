"""The live view's cost beside a writer: a full read of the run against a refresh of what changed,
and how long a writer's transaction waits while a view reads, at 1,000 to 100,000 programs.

Usage: python benchmarks/live_view.py [--sizes 1000,10000,100000]
Prints, per size: full load s, refresh s (10 new programs), their ratio; and the writer's
slowest commit alone, beside a view holding a read transaction through `reader_of` (near 1x:
readers never take the write lock), and beside one reading through the writer's own factory
(BEGIN IMMEDIATE, as the live view did before: the writer waits for the view).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from evolve.db.engine import open_database, reader_of, sqlite_url  # noqa: E402
from evolve.db.models import Program, Run  # noqa: E402
from evolve.tui import snapshot, summary  # noqa: E402


def _programs(run_id: int, start: int, n: int) -> list[dict]:
    return [dict(run_id=run_id, iteration=i, parent_id=None, generation=i % 7, island=i % 4,
                 mutation="offline:constant", code=f"def f():\n    return {i}\n" * 20, code_hash=f"{i:064x}",
                 status="evaluated" if i % 5 else "duplicate", score=(i * 7919 % 1000) / 1000,
                 metrics={"valid": True, "hit_rate": (i * 7919 % 1000) / 1000}) for i in range(start, start + n)]


def _write(factory, run_id: int, start: int, n: int) -> float:
    began = time.perf_counter()
    with factory.begin() as session:
        session.execute(insert(Program), _programs(run_id, start, n))
    return time.perf_counter() - began


def measure(size: int, folder: Path) -> dict:
    factory = open_database(sqlite_url(folder / f"b{size}.db"))
    with factory.begin() as session:
        run = Run(name=f"b{size}", problem="bench", problem_path="-", config={"objectives": [
            {"name": "hit_rate", "direction": "max"}]})
        session.add(run)
        session.flush()
        run_id = run.id
    for start in range(0, size, 20_000):
        _write(factory, run_id, start, min(20_000, size - start))
    reader = reader_of(factory)
    began = time.perf_counter()
    snap = snapshot.load(reader, run_id)
    summary.render(snap)
    full = time.perf_counter() - began
    _write(factory, run_id, size, 10)
    began = time.perf_counter()
    snap = snapshot.refresh(reader, snap)
    summary.render(snap)
    fresh = time.perf_counter() - began
    assert len(snap.rows) == size + 10
    alone = min(_write(factory, run_id, size + 10 + 10 * k, 10) for k in range(5))
    beside = _beside_a_reader(factory, reader, run_id, size + 100)
    immediate = _beside_a_reader(factory, factory, run_id, size + 200, commits=2)
    return {"size": size, "full_s": full, "refresh_s": fresh, "writer_alone_s": alone, "writer_beside_s": beside,
            "writer_beside_immediate_s": immediate}


def _beside_a_reader(factory, readers, run_id: int, start: int, commits: int = 5) -> float:
    """The slowest of `commits` writer transactions while another thread keeps a read transaction
    open on `readers` half of each second (a view refreshing once a second, slow to render)."""
    stop, ready = threading.Event(), threading.Event()

    def view():
        while not stop.is_set():
            with readers() as session:
                snapshot.run_row(session, run_id)  # the transaction is open from here
                ready.set()
                stop.wait(0.5)
            stop.wait(0.5)  # a refresh a second

    t = threading.Thread(target=view, daemon=True)
    t.start()
    ready.wait()
    worst = max(_write(factory, run_id, start + 10 * k, 10) for k in range(commits))
    stop.set()
    t.join()
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    print(f"{'programs':>9} {'full load':>10} {'refresh':>9} {'full/refresh':>13} {'commit':>8} "
          f"{'beside a view':>14} {'ratio':>6} {'beside BEGIN IMMEDIATE':>23} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            r = measure(size, Path(tmp))
            print(f"{r['size']:>9} {r['full_s']:>9.3f}s {r['refresh_s']:>8.4f}s {r['full_s'] / r['refresh_s']:>12.1f}x "
                  f"{r['writer_alone_s']:>7.4f}s {r['writer_beside_s']:>13.4f}s "
                  f"{r['writer_beside_s'] / r['writer_alone_s']:>5.1f}x {r['writer_beside_immediate_s']:>22.4f}s "
                  f"{r['writer_beside_immediate_s'] / r['writer_alone_s']:>6.0f}x")


if __name__ == "__main__":
    main()
