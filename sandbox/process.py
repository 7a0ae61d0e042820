"""The `process` backend: the fallback where bwrap is missing.

A child process in its own session with rlimits (CPU seconds, address space, processes,
file size, open files), a per-run cgroup for pids and memory where one can be made, a
cleared environment, no_new_privs, and process-group plus cgroup kill. Started as root,
the run drops to uid/gid 65534 with no supplementary groups (sandbox.confine); where it
cannot, this backend refuses to run as root unless `sandbox.allow_root: true`. Where the
kernel has Landlock, the run reads only the system, the interpreter, the evaluator and
its declared data, and writes only its work dir (no problem folder, no held-out data, no
runs, no $HOME). Where user namespaces work, `unshare` adds a network namespace with no
interfaces and a pid namespace whose processes all die with it. Without Landlock it
cannot hide the file system: the run reads whatever its user can.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess

from sandbox import SandboxError, confine, landlock, workdir
from sandbox.local import LocalBackend
from sandbox.spec import RunSpec

# no uid map is written: the run is an unmapped user (nobody) in its namespace, without capabilities
UNSHARE = ["unshare", "--user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
# under Landlock no mount is allowed (and none is needed: Landlock shuts other processes' /proc files)
UNSHARE_CONFINED = UNSHARE[:-1]
# pid 1 of a namespace ignores signals it has no handler for (SIGXCPU included), so a shell
# is init and the command its child; its exit status is the command's (128+N on signal N)
INIT = ["/bin/sh", "-c", 'exec 9<&0; "$@" <&9 9<&- & wait $!', "sandbox-init"]
INSTALL_BWRAP = "install bwrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora/RHEL: dnf install bubblewrap)"


@functools.cache
def namespaces_available(confined: bool = False, uid: int | None = None) -> str:
    """'' when `unshare` can make user, network and pid namespaces here (as `uid`), else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed (util-linux)"
    who = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    try:
        done = subprocess.run([*(UNSHARE_CONFINED if confined else UNSHARE), "true"], capture_output=True,
                              timeout=10, **who)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return "unshare failed: " + done.stderr.decode(errors="replace").strip()[:200]
    return ""


def root_refusal(allow_root: bool = False) -> str:
    """'' when the process backend may run here; else why it refuses (root that cannot drop privileges)."""
    why = confine.drop_problem()
    if not why or allow_root:
        return ""
    return (f"the controller runs as root and the process backend cannot drop privileges: {why}; a "
            f"candidate would run as root. Either {INSTALL_BWRAP} and keep sandbox.backend: auto, or run "
            "as a non-root user, or accept candidates running as root with sandbox.backend: process "
            "and sandbox.allow_root: true in the problem YAML")


class ProcessBackend(LocalBackend):
    name = "process"

    def __init__(self, allow_root: bool = False):
        refusal = root_refusal(allow_root)
        if refusal:
            raise SandboxError(refusal)
        dropping = confine.is_root() and not confine.drop_problem()
        self.user = (confine.NOBODY, confine.NOBODY) if dropping else None  # the uid/gid runs drop to
        self.landlock = landlock.abi()
        self.hides_files = bool(self.landlock)

    def describe(self) -> str:
        """How this backend confines a run here, in a sentence."""
        who = (f"candidates run as uid {self.user[0]} (root dropped)" if self.user
               else "candidates run as root (sandbox.allow_root)" if confine.is_root()
               else f"candidates run as uid {os.getuid()}, the controller's user")
        files = (f"Landlock (ABI {self.landlock}) limits them to the system, the interpreter, the evaluator and "
                 "their work dir" if self.landlock else
                 f"no Landlock here: they can read whatever their user can ({landlock.why_unavailable()})")
        return f"{who}; {files}"

    def uid(self) -> int:
        return self.user[0] if self.user else os.getuid()

    def unreadable(self, paths: list[str]) -> str:
        """Why the user runs drop to could not read one of `paths` (the evaluator, its data); '' if it can."""
        return confine.unreachable(paths) if self.user else ""

    def command(self, spec: RunSpec, path: str) -> tuple[list[str], dict[str, str]]:
        argv = list(spec.argv)
        confined = bool(self.landlock)
        if not spec.network and not namespaces_available(confined, self.user and self.user[0]):
            argv = [*(UNSHARE_CONFINED if confined else UNSHARE), *INIT, *argv]
        return argv, workdir.environment(spec, path)

    def confinement(self, spec: RunSpec, path: str):
        if self.user:
            confine.give(path, *self.user)
        allow = confine.rules(spec, path) if self.landlock else None
        user = self.user

        def child() -> None:  # in the child, last before exec
            if user:
                confine.drop(*user)
            if allow is not None:
                allow.restrict()  # sets no_new_privs too
            else:
                landlock.no_new_privs()
        return child

