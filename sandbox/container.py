"""The `docker` backend: each run in a fresh container from the `evolve-sandbox` image.

No network, read-only root, a size-capped tmpfs at /tmp, memory, CPU-seconds and pids
limits, every capability dropped, no-new-privileges, user nobody, and only the GPUs the
run was given (device requests). Needs the `docker` extra (pip install 'evolve[docker]'),
a daemon that answers, and the image (`evolve sandbox build`). The request and the
result go through a private folder mounted at /result: the runner deletes the request
before the candidate is imported, and the result carries the run's nonce.
"""
from __future__ import annotations

import asyncio
import functools
import os
import shutil
import threading
import time
from pathlib import Path

from sandbox import launch, outcome, workdir
from sandbox.spec import RunResult, RunSpec

IMAGE = "evolve-sandbox:latest"
WORK = "/sandbox/work"
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile"


def _client():
    import docker
    return docker.from_env(timeout=10)


@functools.cache
def available(image: str = IMAGE) -> str:
    """'' when a docker daemon answers and holds the image, else why not."""
    try:
        import docker
    except ImportError:
        return "the docker Python package is not installed (pip install 'evolve[docker]')"
    try:
        client = _client()
        client.ping()
    except Exception as exc:  # no daemon, no permission on the socket, ...
        return f"no docker daemon answers ({str(exc)[:160]})"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"the image {image} is missing; build it with `evolve sandbox build`"
    except Exception as exc:
        return f"docker cannot list images ({str(exc)[:160]})"
    return ""


def build(tag: str = IMAGE) -> str:
    """Build the sandbox image from sandbox/Dockerfile; the image id."""
    image, _ = _client().images.build(path=str(DOCKERFILE.parent), dockerfile=DOCKERFILE.name, tag=tag, rm=True)
    return image.id


class DockerBackend:
    name = "docker"
    hides_files = True  # only the work dir, the result folder and the spec's readable paths are mounted

    def __init__(self, image: str = IMAGE):
        self.image = image

    async def run(self, spec: RunSpec) -> RunResult:
        with workdir.work_dir(spec) as path:
            shared = workdir.make_dir(workdir.RESULT_PREFIX)
            try:
                os.chmod(path, 0o777)  # the container runs as nobody
                os.chmod(shared, 0o777)
                Path(shared, "request.json").write_bytes(spec.stdin)
                raw = await asyncio.get_running_loop().run_in_executor(None, self._run, spec, path, shared)
                result = Path(shared, "result")
                raw.result = bytearray(result.read_bytes()) if result.is_file() else bytearray()
            finally:
                shutil.rmtree(shared, ignore_errors=True)
            return outcome.classify(raw, spec, self.name)

    def _run(self, spec: RunSpec, path: str, shared: str) -> launch.Raw:
        import docker
        from docker.types import DeviceRequest, Ulimit

        volumes = {path: {"bind": WORK, "mode": "rw"}, shared: {"bind": "/result", "mode": "rw"}}
        for p in spec.readable_paths:
            volumes[os.path.realpath(p)] = {"bind": str(p), "mode": "ro"}
        cpu = max(1, int(spec.cpu_s + 0.999))
        # the image's own interpreter and site-packages, not the host's (no -S, no host paths)
        argv = ["python", *[a for a in spec.argv[1:] if a != "-S"], "--request", "/result/request.json"]
        env = workdir.environment(spec, WORK)
        env.pop("PATH", None)
        env["PYTHONPATH"] = str(spec.python_path[0]) if spec.python_path else ""
        client = _client()
        raw = launch.Raw()
        start = time.monotonic()
        box = client.containers.create(
            self.image, argv, working_dir=WORK, user="65534:65534", environment=env,
            network_disabled=True, read_only=True, tmpfs={"/tmp": f"size={spec.tmpfs_mb}m"},
            mem_limit=f"{spec.memory_mb}m", memswap_limit=f"{spec.memory_mb}m", pids_limit=spec.pids,
            cap_drop=["ALL"], security_opt=["no-new-privileges"], volumes=volumes,
            init=True,  # docker-init is PID 1, so the kernel's SIGXCPU at the CPU limit reaches the runner
            ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1), Ulimit(name="core", soft=0, hard=0)],
            device_requests=[DeviceRequest(device_ids=[str(g) for g in spec.gpus], capabilities=[["gpu"]])]
            if spec.gpus else None,
        )
        try:
            box.start()
            watcher = threading.Thread(target=self._watch, args=(box, spec, raw), daemon=True)
            watcher.start()
            try:
                status = box.wait(timeout=spec.wall_s)
                raw.returncode = status.get("StatusCode")
            except Exception:  # the wait timed out
                raw.timed_out = True
                box.kill()
            watcher.join(timeout=5)
            box.reload()
            raw.oom_killed = bool(box.attrs.get("State", {}).get("OOMKilled"))
        except docker.errors.APIError as exc:
            raw.stderr.add(f"docker: {exc}".encode())
            raw.returncode = 125
        finally:
            raw.wall_s = time.monotonic() - start
            try:
                box.remove(force=True)
            except docker.errors.APIError:
                pass
        if raw.returncode == 137 and not raw.capped and not raw.timed_out:
            raw.returncode = -9
        return raw

    @staticmethod
    def _watch(box, spec: RunSpec, raw: launch.Raw) -> None:
        """Stream the output into bounded tails; kill the container past the output cap."""
        for out, err in box.attach(stdout=True, stderr=True, stream=True, demux=True, logs=True):
            if out:
                raw.stdout.add(out)
            if err:
                raw.stderr.add(err)
            if raw.stdout.total + raw.stderr.total > spec.output_bytes and not raw.capped:
                raw.capped = True  # kill from another thread and keep draining: the daemon waits on a blocked stream
                threading.Thread(target=_kill, args=(box,), daemon=True).start()


def _kill(box) -> None:
    import docker
    try:
        box.kill()
    except docker.errors.APIError:  # it ended on its own meanwhile
        pass
