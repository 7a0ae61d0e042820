"""The docker backend's own leftovers: the daemon keeps a killed controller's containers (a warm
one waits on its request forever); the next docker backend removes them, never a live one's."""
from __future__ import annotations

import os
import subprocess
import sys

import sandbox
from sandbox import container, owner
from tests.conftest import ROOT, require_docker

CONTROLLER = '''
import sys
import sandbox
from sandbox import request
backend = sandbox.select("docker")[0]
started = backend.start(request.evaluation("sandbox.probes", "evaluate", "def main():\\n    return 0\\n", {}))
started.spawned.proc.future.result()  # created and started: its runner waits on the request FIFO
print("up", flush=True)
sys.stdin.read()
'''


def test_a_killed_controllers_warm_container_is_swept_a_live_ones_is_not(tmp_path):
    require_docker(sandbox.why_unavailable("docker"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}  # its folders stay in tmp_path
    ctl = subprocess.Popen([sys.executable, "-c", CONTROLLER], cwd=ROOT, env=env, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    client = container._client()
    try:
        assert ctl.stdout.readline().strip() == "up"
        tag = f"{ctl.pid}-{owner.start_time(ctl.pid)}-{owner.tag().rsplit('-', 1)[1]}"
        mine = {"label": f"{container.LABEL}={tag}"}
        assert len(client.containers.list(all=True, filters=mine)) == 1
        container.sweep_stale()
        assert len(client.containers.list(all=True, filters=mine)) == 1  # its controller is alive
    finally:
        ctl.kill()
        ctl.wait()
        ctl.stdin.close()
        ctl.stdout.close()
    assert len(client.containers.list(all=True, filters=mine)) == 1  # the daemon kept it
    container.DockerBackend()  # a new docker backend sweeps what killed controllers left
    assert client.containers.list(all=True, filters=mine) == []
