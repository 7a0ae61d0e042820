"""`evolve doctor`: probe, on this machine, which sandbox protections actually hold.

Each protection is checked by running a small hostile candidate through the backend in
use and looking at what it managed to do. Also `evolve sandbox build` (the docker image).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

import sandbox
from sandbox import gpus, request

PROBE_EVALUATOR = "sandbox.probes"


@dataclass
class Check:
    protection: str
    holds: bool | None  # None: not applicable here
    detail: str


def _run(backend, body: str, evaluator: str = PROBE_EVALUATOR, **limits):
    code = "def main():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
    limits = {"wall_s": 20, "cpu_s": 20, "memory_mb": 1024, **limits}
    result = "/result/result" if backend.name == "docker" else "fd"
    spec = request.evaluation(evaluator, "evaluate", code, {}, result=result, **limits)
    res = asyncio.run(backend.run(spec))
    value = res.result["metrics"]["value"] if res.ok else None
    return res, value


def check_network(backend) -> Check:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        _, value = _run(backend, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                return "reached the host's 127.0.0.1:{port}"
            except OSError:
                pass
            try:
                socket.getaddrinfo("example.com", 80)
                return "DNS resolves"
            except OSError:
                return ""
        """)
    finally:
        listener.close()
    return Check("network off", value == "", value or "a listener on the host's 127.0.0.1 is unreachable; DNS fails")


def check_memory(backend) -> Check:
    res, _ = _run(backend, "x = bytearray(2_000_000_000)\nreturn len(x)", memory_mb=256)
    return Check("memory cap", res.status == "oom", f"a 2 GB allocation under a 256 MB cap ended as {res.status}")


def check_cpu(backend) -> Check:
    res, _ = _run(backend, "while True:\n    pass", cpu_s=1, wall_s=15)
    ok = res.status == "timeout" and "CPU" in res.error
    return Check("CPU cap", ok, f"a busy loop under a 1 s CPU cap ended as {res.status} after {res.wall_s:.1f} s wall")


def check_pids(backend) -> Check:
    res, value = _run(backend, """
        import os, time
        n = 0
        try:
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(20)
                    os._exit(0)
                n += 1
        except OSError:
            pass
        return n
    """, pids=32)
    ok = isinstance(value, int) and value < 32
    return Check("pids cap", ok, f"a fork bomb under a 32-process cap made {value} processes ({res.status})")


def check_readonly(backend) -> Check:
    targets = ["/usr/evolve-doctor", str(request.PROJECT_ROOT / "evolve-doctor"), str(Path.home() / "evolve-doctor")]
    _, value = _run(backend, f"""
        written = []
        for path in {targets!r}:
            try:
                with open(path, "w") as fh:
                    fh.write("x")
                written.append(path)
            except OSError:
                pass
        return written
    """)
    # a write counts only if it reached the host: under bwrap a path below /tmp (a checkout there)
    # lands in the sandbox's private /tmp and is gone with it
    reached = [path for path in value or [] if Path(path).exists()]
    for path in reached:
        Path(path).unlink(missing_ok=True)
    ok = value is not None and not reached
    return Check("read-only system", ok, "system, repository and $HOME are not writable" if ok
                 else f"the candidate wrote {reached or value}")


def check_secrets(backend) -> Check:
    os.environ["EVOLVE_DOCTOR_API_KEY"] = "doctor-secret"
    try:
        _, value = _run(backend, """
            import os
            leaked = [k for k in os.environ if k.endswith("_API_KEY") or k.startswith("AWS_")]
            try:
                if b"doctor-secret" in open("/proc/1/environ", "rb").read():
                    leaked.append("/proc/1/environ")
            except OSError:
                pass
            return leaked
        """)
    finally:
        del os.environ["EVOLVE_DOCTOR_API_KEY"]
    return Check("secrets hidden", value == [], "no *_API_KEY / AWS_* variables; /proc/1/environ is not the host's"
                 if value == [] else f"visible: {value}")


@contextmanager
def _folder(files: dict[str, tuple[str, int]]):
    """A temp folder others may enter (as a user's checkout is), holding `files` (name -> text, mode)."""
    top = Path(tempfile.mkdtemp(prefix="evolve-doctor-"))
    try:
        os.chmod(top, 0o755)
        for name, (text, mode) in files.items():
            (top / name).write_text(text)
            os.chmod(top / name, mode)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def check_holdout(backend) -> Check:
    marker = f"doctor-holdout-{os.getpid()}"
    yaml = f"workloads:\n  holdout:\n    - {{name: secret, workload: {{tag: {marker}}}}}\n"
    with _folder({"problem.yaml": (yaml, 0o644), "evaluate.py": (f"from {PROBE_EVALUATOR} import evaluate\n", 0o644)}) as top:
        _, value = _run(backend, f"""
            import os, sys
            found, top = [], {str(top)!r}
            beside = os.path.dirname(sys.modules["problem_evaluator"].__file__)
            places = [top + "/problem.yaml", beside + "/problem.yaml", "/proc/self/cwd/../problem.yaml"]
            for root, _, files in os.walk(os.path.dirname(top)):
                places += [os.path.join(root, f) for f in files if f.endswith(".yaml")]
            for path in places:
                try:
                    if {marker!r} in open(path).read():
                        found.append(path)
                except OSError:
                    pass
            return sorted(set(found))
        """, evaluator=str(top / "evaluate.py"))
    return Check("held-out data hidden", value == [], "a problem.yaml beside the evaluator (mode 644) is not "
                 "readable: only the evaluator file is" if value == [] else
                 f"a candidate read the held-out section at {value or 'an unknown place (the probe failed)'}")


def check_host_files(backend) -> Check:
    root = os.geteuid() == 0
    files = {"id_rsa": ("PRIVATE KEY", 0o600), "README.md": ("project", 0o644)}
    with _folder(files) as top:
        private = [str(top / "id_rsa")] + (["/etc/shadow"] if root and Path("/etc/shadow").exists() else [])
        _, value = _run(backend, f"""
            import os
            got = []
            for path in {private!r}:
                try:
                    open(path).read(1)
                    got.append("read " + path)
                except OSError:
                    pass
            for path in [{str(top / "README.md")!r}, {str(top / "new.py")!r}]:
                try:
                    open(path, "a").close()
                    got.append("wrote " + path)
                except OSError:
                    pass
            return got
        """)
        touched = (top / "README.md").read_text() != "project" or (top / "new.py").exists()
    who = "root" if root else f"uid {os.geteuid()} (the controller is not root)"
    ok = value is not None and not touched and not [g for g in value if g.startswith("read")]
    return Check("host files protected from root", ok, f"the controller's files as {who}: a 0600 key and "
                 f"{'/etc/shadow ' if root else ''}unreadable, a 0644 project file not writable" if ok
                 else f"the candidate could: {value if value is not None else 'the probe failed'}")


def check_gpus(backend) -> Check:
    count = gpus.detect()
    devices = (0,) if count else ()
    _, value = _run(backend, """
        import glob, os
        return [os.environ.get("CUDA_VISIBLE_DEVICES"), sorted(glob.glob("/dev/nvidia[0-9]*"))]
    """, gpus=devices)
    if not count:
        ok = value is not None and value[0] == ""
        return Check("GPU visibility", None if ok else False,
                     "no GPU on this machine; evaluations get CUDA_VISIBLE_DEVICES='' and EVOLVE_GPUS=0")
    ok = value is not None and value[0] == "0" and value[1] in ([], ["/dev/nvidia0"])
    if backend.name == "process":
        return Check("GPU visibility", False, f"{count} GPU(s); the process backend sets CUDA_VISIBLE_DEVICES "
                     f"but cannot hide the other device nodes ({value})")
    return Check("GPU visibility", ok, f"{count} GPU(s); a run given GPU 0 sees {value}")


CHECKS = (check_network, check_memory, check_cpu, check_pids, check_readonly, check_secrets, check_holdout,
          check_host_files, check_gpus)


def diagnose(backend_name: str = "auto", allow_root: bool = False) -> tuple[str, list[Check]]:
    backend, note = sandbox.select(backend_name, allow_root)
    return note, [check(backend) for check in CHECKS]


def cmd_doctor(args, console) -> int:
    note, checks = diagnose(args.backend, getattr(args, "allow_root", False))
    console.print(f"sandbox backend: [bold]{note}[/]")
    for name in ("bwrap", "process", "docker"):
        why = sandbox.why_unavailable(name) or (name == "process" and _root_note())
        console.print(f"  {name}: {'available' if not why else why}", highlight=False, markup=False)
    table = Table(title="protections, probed on this machine")
    for col in ("protection", "holds", "how it was checked"):
        table.add_column(col)
    for c in checks:
        mark = {True: "[green]yes[/]", False: "[red]NO[/]", None: "[yellow]n/a[/]"}[c.holds]
        table.add_row(c.protection, mark, c.detail)
    console.print(table)
    return 1 if any(c.holds is False for c in checks) else 0


def _root_note() -> str:
    from sandbox import process
    why = process.root_refusal()
    return f"refused as root unless sandbox.allow_root (--allow-root here): {why.split(': ', 1)[1].split(';')[0]}" \
        if why else ""


def cmd_sandbox_build(args, console) -> int:
    from sandbox import container, image
    try:
        if args.from_dockerfile:
            console.print(f"building {args.tag} from {container.DOCKERFILE} (needs a registry for its FROM) ...")
            built = container.build(args.tag)
        else:
            console.print(f"building {args.tag} offline from this machine's Python and {', '.join(args.packages)} ...")
            built, summary = image.build_from_host(args.tag, tuple(args.packages))
            console.print(f"python {summary['python']}; packages {', '.join(summary['packages'])}; "
                          f"{summary['bytes'] / 1e6:.0f} MB")
    except image.ImageError as exc:
        raise sandbox.SandboxError(f"could not build the sandbox image: {exc}") from None
    except Exception as exc:  # no daemon, no docker package, a failed build step
        raise sandbox.SandboxError(f"could not build the sandbox image: {exc}. Is the docker daemon "
                                   "running, and is the docker extra installed (pip install 'evolve[docker]')?") from None
    console.print(f"built {args.tag} ({built})")
    return 0


def register(subparsers) -> None:
    doctor = subparsers.add_parser("doctor", help="probe which sandbox protections hold on this machine")
    doctor.add_argument("--backend", default="auto", choices=sandbox.BACKENDS)
    doctor.add_argument("--allow-root", action="store_true",
                        help="probe the process backend as root where it cannot drop privileges (sandbox.allow_root)")
    doctor.set_defaults(func=cmd_doctor)
    box = subparsers.add_parser("sandbox", help="sandbox maintenance")
    sub = box.add_subparsers(dest="sandbox_command", required=True)
    build = sub.add_parser("build", help="build the docker backend's image (offline, from this machine's Python)")
    build.add_argument("--tag", default="evolve-sandbox:latest")
    build.add_argument("--with", dest="packages", action="append", default=["numpy"], metavar="PACKAGE",
                       help="an installed distribution to put in the image with its requirements (repeatable; "
                            "numpy always)")
    build.add_argument("--from-dockerfile", action="store_true",
                       help="build from sandbox/Dockerfile instead (its FROM needs an image registry)")
    build.set_defaults(func=cmd_sandbox_build)
