"""The pieces every local backend shares: a private work dir and the cleared environment.

A work dir is `<temp dir>/evolve-sbx-<owner>-<random>`: the owner (sandbox.owner) lets
`sandbox.sweep_stale` tell the folders a killed controller left from those of a live one.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sandbox import owner
from sandbox.spec import RunSpec

PREFIX = "evolve-sbx-"
RESULT_PREFIX = "evolve-result-"  # the docker backend's result folder
STAGE_PREFIX = "evolve-stage-"  # a copy of an evaluator that the process backend's user could not reach (confine.stage)
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")  # the sandbox's PATH, after the interpreter's folder


def make_dir(prefix: str = PREFIX) -> str:
    """A new empty private folder in the temp dir whose name says which process owns it."""
    return tempfile.mkdtemp(prefix=f"{prefix}{owner.tag()}-")


def make(spec: RunSpec) -> str:
    """A fresh private directory holding the spec's files."""
    path = make_dir()
    try:
        for name, content in spec.files.items():
            target = Path(path, name)
            if target.resolve().parent != Path(path).resolve():
                raise ValueError(f"sandbox file name {name!r} must be a plain name inside the work dir")
            target.write_text(content, encoding="utf-8")
    except BaseException:
        remove(path)
        raise
    return path


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def work_dir(spec: RunSpec):
    """A fresh directory holding the spec's files; removed, whatever happens, afterwards."""
    path = make(spec)
    try:
        yield path
    finally:
        remove(path)


def environment(spec: RunSpec, home: str) -> dict[str, str]:
    """The allow-listed variables, the spec's own, and sandbox settings; nothing else of the host's."""
    env = {"PATH": os.pathsep.join((os.path.dirname(sys.executable), *SYSTEM_PATH))}
    env.update({k: os.environ[k] for k in spec.env_allow if k in os.environ})
    env.update(spec.env)
    env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    paths = [str(p) for p in spec.python_path]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    env["EVOLVE_GPUS"] = str(len(spec.gpus))
    return env
