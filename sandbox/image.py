"""The docker backend's image without a registry: a root filesystem taken from this machine.

`docker import` of a tarball holding this machine's Python interpreter, its standard library,
a few commands (sh, sleep, cat, ...), the shared libraries they load (found with `ldd`), and the
installed distributions the evaluators import (numpy by default, with their requirements).
Nothing is downloaded, so it works in air-gapped labs and clusters. The image runs as nobody (65534) in /sandbox/work;
the backend adds the rest (read-only root, no network, no capabilities).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

DEFAULT_PACKAGES = ("numpy",)
# the few commands a candidate or evaluator may start (a shell, sleep, ...), as the other backends show the host's
TOOLS = ("sh", "sleep", "true", "false", "cat", "env", "ls")
# parts of the standard library no evaluator needs: tests, GUIs, installers, the 2to3 tool
SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages",
               "dist-packages", "__phello__"}
CHANGES = ["USER 65534:65534", "WORKDIR /sandbox/work", "ENV PATH=/usr/local/bin:/usr/bin:/bin",
           "ENV LANG=C.UTF-8", "ENV PYTHONDONTWRITEBYTECODE=1"]
_LDD = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


class ImageError(Exception):
    """The image cannot be built from this machine; the message names the fix."""


def interpreter() -> Path:
    """The real interpreter binary behind this (possibly virtual) environment."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Path(os.path.realpath(base))


def stdlib_dir() -> Path:
    """The base interpreter's standard library folder."""
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
                                      "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix})
    return Path(paths["stdlib"])


def site_dir(python: Path) -> str:
    """Where the base interpreter looks for installed packages (inside the image)."""
    out = subprocess.run([str(python), "-S", "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def distributions(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The named distributions installed here and, recursively, what they require (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in names:
                raise ImageError(f"the package {name!r} is not installed in {sys.prefix}: install it there "
                                 "(pip install ...) or leave it out of --with") from None
            continue  # an optional requirement this environment does without
        found[key] = dist
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0])
    return list(found.values())


class RootFS:
    """A tarball being filled with host files at the same paths, symlinks kept as symlinks."""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.added: set[str] = set()

    def add(self, path: str, arcname: str | None = None) -> None:
        """Add a host file (and the symlinks on its way) at `arcname` (its own path by default)."""
        arcname = arcname or path
        if arcname in self.added:
            return
        self._parents(arcname)
        if arcname == path and os.path.islink(path):
            self.added.add(arcname)
            target = os.readlink(path)
            self.tar.add(path, arcname=arcname.lstrip("/"), recursive=False)
            self.add(os.path.normpath(os.path.join(os.path.dirname(path), target)))
            return
        self.added.add(arcname)
        self.tar.add(os.path.realpath(path), arcname=arcname.lstrip("/"), recursive=False)

    def _parents(self, arcname: str) -> None:
        """Each folder above `arcname`: a symlink where the host has one (/lib -> usr/lib), else a folder."""
        parent = os.path.dirname(arcname)
        if parent in ("/", "") or parent in self.added:
            return
        self._parents(parent)
        self.added.add(parent)
        if os.path.islink(parent):
            self.tar.add(parent, arcname=parent.lstrip("/"), recursive=False)
            self.add(os.path.normpath(os.path.join(os.path.dirname(parent), os.readlink(parent))))
        else:
            self.directory(parent)

    def directory(self, arcname: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(arcname.lstrip("/"))
        info.type, info.mode = tarfile.DIRTYPE, mode
        self.tar.addfile(info)
        self.added.add(arcname)

    def text(self, arcname: str, content: str) -> None:
        data = content.encode()
        info = tarfile.TarInfo(arcname.lstrip("/"))
        info.size, info.mode = len(data), 0o644
        self._parents(arcname)
        self.tar.addfile(info, io.BytesIO(data))
        self.added.add(arcname)

    def link(self, arcname: str, target: str) -> None:
        info = tarfile.TarInfo(arcname.lstrip("/"))
        info.type, info.linkname = tarfile.SYMTYPE, target
        self._parents(arcname)
        self.tar.addfile(info)
        self.added.add(arcname)


def shared_libraries(binaries: list[str]) -> set[str]:
    """Every shared library (and the loader) the binaries load, as `ldd` resolves them here."""
    libs: set[str] = set()
    for chunk in range(0, len(binaries), 200):
        try:
            out = subprocess.run(["ldd", *binaries[chunk:chunk + 200]], capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise ImageError("`ldd` is missing on this machine: install libc-bin, or build from a registry "
                             "with `evolve sandbox build --from-dockerfile`") from None
        libs.update(m.group(1) for m in _LDD.finditer(out))
    return libs


def write_rootfs(tar: tarfile.TarFile, packages: tuple[str, ...]) -> dict:
    """Fill `tar` with the interpreter, its stdlib, `packages` and the libraries they load; a summary."""
    fs = RootFS(tar)
    python, stdlib = interpreter(), stdlib_dir()
    site = site_dir(python)
    binaries = [str(python)]
    fs.add(str(python))
    for name in ("python", "python3"):
        fs.link(f"/usr/bin/{name}", str(python))
    for root, dirs, files in os.walk(stdlib):
        if Path(root) == stdlib:
            dirs[:] = [d for d in dirs if d not in SKIP_STDLIB]
        for f in files:
            path = os.path.join(root, f)
            fs.add(path)
            if f.endswith(".so"):
                binaries.append(path)
    for tool in filter(None, map(shutil.which, TOOLS)):
        fs.add(tool, f"/usr/bin/{os.path.basename(tool)}")
        binaries.append(os.path.realpath(tool))
    dists = distributions(packages)
    for dist in dists:
        base = Path(dist.locate_file(""))
        for rel in dist.files or []:
            if str(rel).startswith(".."):
                continue  # scripts outside the site folder
            src = str(base / rel)
            if os.path.isfile(src):
                fs.add(src, f"{site}/{rel}")
                if ".so" in Path(src).name:
                    binaries.append(src)
    own = tuple(str(Path(d.locate_file(""))) for d in dists)
    for lib in sorted(shared_libraries(binaries)):
        if not lib.startswith(own):  # a wheel's vendored libraries travel inside its folder
            fs.add(lib)
    if os.path.exists("/etc/ld.so.cache"):
        fs.add("/etc/ld.so.cache")
    fs.text("/etc/passwd", "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    fs.text("/etc/group", "root:x:0:\nnogroup:x:65534:\n")
    for folder in ("/tmp", "/sandbox", "/sandbox/work", "/result"):
        fs.directory(folder, 0o1777 if folder == "/tmp" else 0o755)
    return {"python": str(python), "site": site, "packages": sorted(f"{d.metadata['Name']}=={d.version}" for d in dists),
            "libraries": len(binaries)}


def build_from_host(tag: str, packages: tuple[str, ...] = DEFAULT_PACKAGES, client=None) -> tuple[str, dict]:
    """Import the host root filesystem as `tag`; the image id and what went in."""
    import docker
    client = client or docker.from_env(timeout=600)
    with tempfile.TemporaryDirectory(prefix="evolve-image-") as tmp:
        path = os.path.join(tmp, "rootfs.tar")
        with tarfile.open(path, "w") as tar:
            summary = write_rootfs(tar, tuple(dict.fromkeys((*DEFAULT_PACKAGES, *packages))))
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        with open(path, "rb") as src:
            client.api.import_image(src=src, repository=repository, tag=version, changes=CHANGES)
    image = client.images.get(tag)
    summary["bytes"] = image.attrs.get("Size", 0)
    return image.id, summary
