"""The `docker` backend: each run in a fresh container from the `evolve-sandbox` image.

No network, read-only root, a size-capped tmpfs at /tmp, memory, CPU-seconds and pids
limits, every capability dropped, no-new-privileges, user nobody, and only the GPUs the
run was given (device requests). Needs the `docker` extra (pip install 'evolve[docker]'),
a daemon that answers, and the image (`evolve sandbox build`). No fd crosses into a
container, so the request and the result go through a private folder mounted at /result:
the request through a FIFO, which the runner opens once its imports are done and deletes
before the candidate is imported; the result through a file, carrying the run's nonce.

Like the bwrap and process backends, `start` makes a container ahead of need (created and
started in a thread, its runner blocked on the FIFO) and `finish` sends the request and
watches it, so sandbox.warm keeps single-use warm containers; `run` is the two at once.
"""
from __future__ import annotations

import asyncio
import errno
import functools
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sandbox import launch, outcome, owner, workdir
from sandbox.spec import RunResult, RunSpec

IMAGE = "evolve-sandbox:latest"
WORK = "/sandbox/work"
REQUEST, RESULT = "request", "result"  # in the folder mounted at /result
LABEL = "evolve.owner"  # the controller that started a container (sandbox.owner's tag)
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


def sweep_stale() -> int:
    """Remove the containers whose controller is gone (killed before it removed them: a warm one
    waits on its request forever); how many. Those of live controllers, and of other pid
    namespaces, are left alone. Never raises."""
    try:
        boxes = _client().containers.list(all=True, filters={"label": LABEL})
    except Exception:  # no daemon, no docker package
        return 0
    removed = 0
    for box in boxes:
        if owner.is_stale(f"evolve-{box.labels.get(LABEL, '')}-docker", time.time()):
            try:
                box.remove(force=True)
                removed += 1
            except Exception:  # another sweep took it first
                pass
    return removed


class Box:
    """A container being started (in a thread) or started, polled as sandbox.warm polls a process."""

    def __init__(self, future: Future):
        self.future = future  # -> (the docker Container, its output stream), or the error that stopped its start
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.future.done():
            try:
                box = self.future.result()[0]
                box.reload()
                if box.status in ("exited", "dead"):
                    self.returncode = box.attrs["State"]["ExitCode"]
            except Exception:  # its start failed, or it is gone
                self.returncode = -9
        return self.returncode


@dataclass
class Started:
    """A container waiting for its request; `spawned.proc` is its Box (sandbox.warm polls it)."""

    spawned: launch.Spawned
    path: str  # the work dir, at /sandbox/work
    shared: str  # the request FIFO and the result file, at /result


class DockerBackend:
    name = "docker"
    hides_files = True  # only the work dir, the result folder and the spec's readable paths are mounted

    def __init__(self, image: str = IMAGE):
        self.image = image
        self.starter = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker-start")
        sweep_stale()  # what killed controllers left: the daemon keeps their containers

    async def run(self, spec: RunSpec) -> RunResult:
        return await self.finish(self.start(spec), spec)

    def start(self, spec: RunSpec) -> Started:
        """A work dir, a result folder with the request FIFO, and a container started on them in a thread."""
        path = workdir.make(spec)
        shared = workdir.make_dir(workdir.RESULT_PREFIX)
        try:
            os.chmod(path, 0o777)  # the container runs as nobody
            os.chmod(shared, 0o777)
            fifo = os.path.join(shared, REQUEST)
            os.mkfifo(fifo)
            os.chmod(fifo, 0o644)  # nobody reads it; only this process writes
            future = self.starter.submit(self._create, spec, path, shared)
        except BaseException:
            workdir.remove(path)
            workdir.remove(shared)
            raise
        return Started(launch.Spawned(Box(future), -1, None), path, shared)

    async def finish(self, started: Started, spec: RunSpec) -> RunResult:
        try:
            raw = await asyncio.get_running_loop().run_in_executor(None, self._finish, started, spec)
        except BaseException:  # cancelled: kill it now, not when the thread notices
            self.discard(started)
            raise
        return outcome.classify(raw, spec, self.name)

    def discard(self, started: Started) -> None:
        """Remove the container (waiting for a start in flight), its work dir and result folder."""
        box = started.spawned.proc
        try:
            container, stream = box.future.result()
        except Exception:  # it never started
            container = stream = None
        if container is not None:
            import docker
            try:
                container.remove(force=True)
            except docker.errors.APIError:  # removed already
                pass
            try:
                stream.close()
            except ValueError:  # still being read: it ends with the container
                pass
        if box.returncode is None:
            box.returncode = -9
        workdir.remove(started.path)
        workdir.remove(started.shared)

    def _create(self, spec: RunSpec, path: str, shared: str):
        from docker.types import DeviceRequest, Ulimit

        volumes = {path: {"bind": WORK, "mode": "rw"}, shared: {"bind": "/result", "mode": "rw"}}
        for p in spec.readable_paths:
            volumes[os.path.realpath(p)] = {"bind": str(p), "mode": "ro"}
        cpu = max(1, int(spec.cpu_s + 0.999))
        # the image's own interpreter and site-packages, not the host's (no -S, no host paths);
        # a request for the "fd" channel gets the result file instead
        argv = ["python", *[a for a in spec.argv[1:] if a != "-S"],
                "--request", f"/result/{REQUEST}", "--result", f"/result/{RESULT}"]
        env = workdir.environment(spec, WORK)
        env.pop("PATH", None)
        env["PYTHONPATH"] = str(spec.python_path[0]) if spec.python_path else ""
        box = _client().containers.create(
            self.image, argv, working_dir=WORK, user="65534:65534", environment=env,
            network_disabled=True, read_only=True, tmpfs={"/tmp": f"size={spec.tmpfs_mb}m"},
            mem_limit=f"{spec.memory_mb}m", memswap_limit=f"{spec.memory_mb}m", pids_limit=spec.pids,
            cap_drop=["ALL"], security_opt=["no-new-privileges"], volumes=volumes, labels={LABEL: owner.tag()},
            init=True,  # docker-init is PID 1, so the kernel's SIGXCPU at the CPU limit reaches the runner
            ulimits=[Ulimit(name="cpu", soft=cpu, hard=cpu + 1), Ulimit(name="core", soft=0, hard=0)],
            device_requests=[DeviceRequest(device_ids=[str(g) for g in spec.gpus], capabilities=[["gpu"]])]
            if spec.gpus else None,
        )
        try:  # attached before it starts: all of its output, and a stream that ends when it does
            stream = box.attach(stdout=True, stderr=True, stream=True, demux=True)
            box.start()
        except BaseException:
            box.remove(force=True)
            raise
        return box, stream

    def _finish(self, started: Started, spec: RunSpec) -> launch.Raw:
        """Send the request, watch the container to its end or limit, read the result; then remove it all."""
        raw = launch.Raw()
        try:
            self._watch(started, spec, raw)
            result = Path(started.shared, RESULT)
            raw.result = bytearray(result.read_bytes()) if result.is_file() else bytearray()
        finally:
            self.discard(started)
        if raw.returncode == 137 and not raw.capped and not raw.timed_out:
            raw.returncode = -9
        return raw

    def _watch(self, started: Started, spec: RunSpec, raw: launch.Raw) -> None:
        import docker

        start = time.monotonic()
        try:
            box, stream = started.spawned.proc.future.result()
        except Exception as exc:  # the image, the daemon, a device request, ...
            raw.stderr.add(f"docker: {exc}".encode())
            raw.returncode = 125
            return
        stop = threading.Event()
        sender = threading.Thread(target=_send, args=(os.path.join(started.shared, REQUEST), spec.stdin, stop),
                                  daemon=True)
        streamer = threading.Thread(target=_stream, args=(stream, box, spec, raw), daemon=True)
        sender.start()
        streamer.start()
        try:
            try:
                raw.returncode = box.wait(timeout=spec.wall_s).get("StatusCode")
            except Exception:  # the wait timed out
                raw.timed_out = True
                _kill(box)
            stop.set()
            streamer.join(timeout=5)
            box.reload()
            raw.oom_killed = bool(box.attrs.get("State", {}).get("OOMKilled"))
        except docker.errors.APIError as exc:
            raw.stderr.add(f"docker: {exc}".encode())
            raw.returncode = 125
        finally:
            stop.set()
            raw.wall_s = time.monotonic() - start
            started.spawned.proc.returncode = raw.returncode


def _send(fifo: str, data: bytes, stop: threading.Event) -> None:
    """Write the request into the FIFO once the runner has opened it (after its imports); give up at `stop`."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:  # ENXIO: no reader yet
            if exc.errno != errno.ENXIO or stop.wait(0.005):
                return
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # the runner died (EPIPE)
        pass
    finally:
        os.close(fd)


def _stream(stream, box, spec: RunSpec, raw: launch.Raw) -> None:
    """Read the output stream into bounded tails; kill the container past the output cap."""
    for out, err in stream:
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
