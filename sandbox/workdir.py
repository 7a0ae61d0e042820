"""The pieces every local backend shares: a private work dir and the cleared environment."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sandbox.spec import RunSpec


def make(spec: RunSpec) -> str:
    """A fresh private directory holding the spec's files."""
    path = tempfile.mkdtemp(prefix="evolve-sbx-")
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
    """The allow-listed variables, the spec's own, and sandbox settings; nothing else."""
    env = {k: os.environ[k] for k in spec.env_allow if k in os.environ}
    env.update(spec.env)
    env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    paths = [str(p) for p in spec.python_path]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    env["EVOLVE_GPUS"] = str(len(spec.gpus))
    return env
