"""The `process` backend: the fallback where bwrap is missing.

A child process in its own session with rlimits (CPU seconds, address space, processes,
file size, open files), a per-run cgroup for pids and memory where one can be made, a
cleared environment, and process-group plus cgroup kill. Where unprivileged user
namespaces work, `unshare` adds a network namespace with no interfaces and a pid
namespace whose processes all die with it. It cannot hide the file system: the run can
read (and, as the same user, write) whatever the controller's user can.
"""
from __future__ import annotations

import functools
import shutil
import subprocess

from sandbox import workdir
from sandbox.local import LocalBackend
from sandbox.spec import RunSpec

UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
           "--mount-proc"]
# pid 1 of a namespace ignores signals it has no handler for (SIGXCPU included), so a shell
# is init and the command its child; its exit status is the command's (128+N on signal N)
INIT = ["/bin/sh", "-c", 'exec 9<&0; "$@" <&9 9<&- & wait $!', "sandbox-init"]


@functools.cache
def namespaces_available() -> str:
    """'' when `unshare` can make user, network and pid namespaces here, else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed (util-linux)"
    try:
        done = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return "unshare failed: " + done.stderr.decode(errors="replace").strip()[:200]
    return ""


class ProcessBackend(LocalBackend):
    name = "process"

    def command(self, spec: RunSpec, path: str) -> tuple[list[str], dict[str, str]]:
        argv = list(spec.argv)
        if not spec.network and not namespaces_available():
            argv = [*UNSHARE, *INIT, *argv]
        return argv, workdir.environment(spec, path)
