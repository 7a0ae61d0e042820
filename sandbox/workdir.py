"""The pieces every local backend shares: a private work dir and the cleared environment."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sandbox.spec import RunSpec


@contextmanager
def work_dir(spec: RunSpec):
    """A fresh directory holding the spec's files; removed, whatever happens, afterwards."""
    path = tempfile.mkdtemp(prefix="evolve-sbx-")
    try:
        for name, content in spec.files.items():
            target = Path(path, name)
            if target.resolve().parent != Path(path).resolve():
                raise ValueError(f"sandbox file name {name!r} must be a plain name inside the work dir")
            target.write_text(content, encoding="utf-8")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


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
