"""The docker image built offline from this machine: what goes in, and (with a daemon) that it runs."""
import os
import subprocess
import sys
import tarfile

import pytest

import sandbox
from sandbox import image
from tests.conftest import require_docker

EVOLVE = [sys.executable, "-m", "evolve"]


def _docker_reason() -> str:
    """Why the docker tests cannot run here ('' when they can)."""
    reason = sandbox.why_unavailable("docker")
    return "" if reason.startswith("the image") else reason  # a missing image is what the test builds


def test_the_root_filesystem_holds_the_interpreter_its_libraries_and_numpy(tmp_path):
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as tar:
        summary = image.write_rootfs(tar, ("numpy",))
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        python = str(image.interpreter()).lstrip("/")
        assert python in names and "usr/bin/python" in names
        assert any(n.endswith("/numpy/__init__.py") and n.startswith(summary["site"].lstrip("/")) for n in names)
        assert any("libc.so" in n for n in names), "the C library ldd names must travel"
        assert "etc/passwd" in names and "nobody:x:65534" in tar.extractfile("etc/passwd").read().decode()
        assert not any(n.startswith(str(image.stdlib_dir()).lstrip("/") + "/test/") for n in names)
        assert tar.getmember("tmp").mode == 0o1777
    assert any(p.startswith("numpy==") for p in summary["packages"])


def test_a_package_that_is_not_installed_is_named_with_the_fix():
    with pytest.raises(image.ImageError, match="'no-such-dist' is not installed.*--with"):
        image.distributions(("no-such-dist",))


def test_requirements_come_along(tmp_path):
    names = {d.metadata["Name"].lower() for d in image.distributions(("pytest",))}
    assert {"pytest", "pluggy", "iniconfig"} <= names


def test_build_offline_then_doctor_reports_every_protection(tmp_path):
    require_docker(_docker_reason())
    env = {**os.environ, "COLUMNS": "200"}
    built = subprocess.run([*EVOLVE, "sandbox", "build"], capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "built evolve-sandbox:latest" in built.stdout and "numpy==" in built.stdout
    doctor = subprocess.run([*EVOLVE, "doctor", "--backend", "docker"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert " NO " not in doctor.stdout and "docker: available" in doctor.stdout
