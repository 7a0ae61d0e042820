"""The Ray executor on a local cluster (2 CPUs and a logical GPU, started once for this module):
a whole evolution through the CLI, worker loss retried then recorded, and clear errors."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from evolve.problem import load_problem
from tests.conftest import ROOT, SLOW_EVALUATOR, require_extra, write_problem
from tests.e2e.test_cli_runs import evolve

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the cluster listens on 127.0.0.1 only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

RAY_YAML = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {{name: closeness, direction: max}}
workloads:
  stages:
    - {{name: only, workload: {{target: 10, sleep: {sleep}}}}}
sandbox: {{backend: process, allow_root: true, wall_s: 30, cpu_s: 30, memory_mb: 1024}}
evolution:
  budget: {{iterations: 6}}
  concurrency: 2
executor:
  kind: ray
  ray: {{num_cpus: 1, num_gpus: 0.5, max_retries: {retries}}}
"""


@pytest.fixture(scope="module")
def cluster():
    """The address of a local Ray cluster started by this test process (and shut down after the module)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Ray is required under CI: pip install -e '.[ray]'")
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _problem(tmp_path: Path, sleep: float = 0.0, retries: int = 1) -> Path:
    return write_problem(tmp_path / "tiny", RAY_YAML.format(sleep=sleep, retries=retries), evaluator=SLOW_EVALUATOR)


def test_whole_evolution_through_the_cli(cluster, tmp_path):
    problem = _problem(tmp_path)
    done = evolve(tmp_path, "start", str(problem), "--name", "onray", "--ray-address", cluster)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "(Ray)" in done.stdout and "iteration budget of 6 reached" in done.stdout
    con = sqlite3.connect(tmp_path / "runs" / "onray" / "evolve.db")
    statuses = [r[0] for r in con.execute("SELECT status FROM programs ORDER BY iteration")]
    assert len(statuses) == 7 and statuses[0] == "evaluated"
    assert set(statuses) <= {"evaluated", "duplicate", "infeasible", "failed"}
    rows = con.execute("SELECT status, metrics, error FROM evaluations WHERE stage = 'only'").fetchall()
    assert sum(status == "ok" and '"valid": true' in metrics for status, metrics, _ in rows) >= 1
    # every evaluation ran the evaluator in the worker's sandbox: a failure is the candidate's, never Ray's
    assert all(status in ("ok", "error") and "Ray" not in (error or "") for status, _, error in rows)


def _task_pids() -> set[int]:
    """Ray actors of this cluster now running an evaluation (their process title says so); not the
    sandbox processes they fork, which carry the same title until they exec."""
    parents = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().startswith(b"ray::Evaluator.run"):
                    status = (proc / "status").read_text()
                    parents[int(proc.name)] = int(status.split("PPid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return {pid for pid, ppid in parents.items() if ppid not in parents}


async def _evaluate_killing(executor, code: str, kills: int) -> tuple[list, int]:
    """Evaluate while killing the actor running the evaluation `kills` times (each new attempt, on a
    fresh actor, once)."""
    task = asyncio.ensure_future(executor.evaluate(code))
    killed: set[int] = set()
    deadline = time.monotonic() + 120
    while not task.done() and time.monotonic() < deadline:
        fresh = _task_pids() - killed
        if fresh and len(killed) < kills:
            pid = fresh.pop()
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        await asyncio.sleep(0.1)
    return await task, len(killed)


@pytest.mark.parametrize("kills, status", [(1, "ok"), (2, "killed")])
def test_a_task_whose_worker_dies_is_retried_once_then_failed(cluster, tmp_path, kills, status):
    from evolve.ray_executor import make_executor
    problem = load_problem(_problem(tmp_path, sleep=4.0, retries=1))
    executor = make_executor(problem, 1, SimpleNamespace(executor=None, ray_address=cluster))
    outcomes, killed = asyncio.run(_evaluate_killing(executor, problem.initial_code, kills))
    assert killed == kills
    assert [o.status for o in outcomes] == [status]
    if status == "ok":
        assert outcomes[0].metrics["x"] == 3.0 and outcomes[0].passed
    else:
        assert "worker or node running this evaluation was lost" in outcomes[0].error and not outcomes[0].passed


def test_unreachable_ray_address_is_a_clear_error(tmp_path):
    require_extra("ray", "ray")
    problem = _problem(tmp_path)
    done = evolve(tmp_path, "start", str(problem), "--name", "nowhere", "--ray-address", "127.0.0.1:1")
    assert done.returncode == 2
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in done.stderr and "--ray-address" in done.stderr


def test_ray_not_installed_names_the_extra(tmp_path, monkeypatch):
    from evolve.ray_executor import ExecutorError, make_executor
    problem = load_problem(_problem(tmp_path))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(ExecutorError, match=r"Ray is not installed.*pip install -e '\.\[ray\]'.*executor: local"):
        make_executor(problem, 1, None)


def test_local_executor_stays_the_default(tmp_path):
    from evolve.executor import LocalExecutor
    from evolve.ray_executor import make_executor
    problem = load_problem(write_problem(tmp_path / "plain"))
    assert isinstance(make_executor(problem, 1, None), LocalExecutor)
    assert ROOT.is_dir()


def test_probe_runs_on_the_worker(cluster, tmp_path):
    """The functional-hash probe travels as a Ray task too, with the same result shape as locally."""
    from evolve.ray_executor import make_executor
    folder = _problem(tmp_path)
    (folder / "evaluate.py").write_text((folder / "evaluate.py").read_text() + (
        "\n\ndef probe(program_path, workload):\n    return {'seen': workload['n']}\n"))
    yaml_path = folder / "problem.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("workloads:\n", "workloads:\n  probe: {n: 7}\n"))
    problem = load_problem(folder)
    executor = make_executor(problem, 1, SimpleNamespace(executor=None, ray_address=cluster))
    result = asyncio.run(executor.probe(problem.initial_code, repeat=2))
    assert result.ok, result.error
    assert result.result == [{"seen": 7}, {"seen": 7}]
