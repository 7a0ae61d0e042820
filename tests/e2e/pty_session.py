"""Run a command under a real pseudo-terminal (80x24 by default), as a person at a terminal would."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from dataclasses import dataclass


@dataclass
class Finished:
    output: str
    returncode: int
    wall_s: float


class PtySession:
    """A child process whose stdin/stdout/stderr are one pseudo-terminal; its output is read as it comes."""

    def __init__(self, argv: list[str], cwd, env: dict, cols: int = 80, rows: int = 24):
        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a terminal of the given size, then the command
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.chunks: list[bytes] = []
        self.status: int | None = None

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")

    def pump(self, seconds: float) -> bool:
        """Read output for up to `seconds`; True once the child has exited."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.status is None:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    data = b""
                if data:
                    self.chunks.append(data)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = status
                self._drain()
        return self.status is not None

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and text not in self.output:
            if self.pump(0.1):
                break
        return text in self.output

    def type(self, data: bytes) -> None:
        """Keys as a person types them (b"\\x03" is Ctrl-C: the terminal sends SIGINT)."""
        os.write(self.fd, data)

    def finish(self, timeout: float) -> Finished:
        if not self.pump(timeout):
            os.kill(self.pid, signal.SIGKILL)
            self.pump(5)
        code = os.waitstatus_to_exitcode(self.status) if self.status is not None else -9
        os.close(self.fd)
        return Finished(self.output, code, time.monotonic() - self.started)

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                return
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data)
