"""POST a JSON body over HTTP/1.1 and read the answer: a small client on asyncio streams, with keep-alive.

evolve.llm.openai_http sends every chat completion of a run through here. It does what that needs and
no more: http and https (certificates checked against the system's store, and certifi's where it is
installed), Content-Length and chunked answers, connections kept open per event loop and host, a
deadline for the whole exchange. No proxies, redirects or compression (none is asked for). httpx did
this before; its layers cost about 1.5 ms of CPU a call, which on trivial candidates was a fifth of
the controller's work (benchmarks/throughput.py).
"""
from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

KEPT = 16  # idle connections kept per host
_POOLS: dict[int, dict[tuple, list]] = {}  # id(event loop) -> (scheme, host, port) -> idle (reader, writer)


class HTTPError(Exception):
    """Nothing (usable) answered: refused, reset, closed early, or not HTTP."""


class Timeout(HTTPError):
    """No whole answer before the deadline."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


async def post_json(url: str, body, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` as JSON to `url`; the answer, whatever its status. Raises Timeout or HTTPError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPError(f"not an http(s) URL: {url!r}")
    key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    payload = json.dumps(body).encode("utf-8")
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    head = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}",
            "Accept: application/json", *(f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length")]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
    try:
        return await asyncio.wait_for(_exchange(key, request), timeout)
    except asyncio.TimeoutError:
        raise Timeout(f"no answer from {parts.hostname} within {timeout:g} s") from None


async def _exchange(key: tuple, request: bytes) -> Response:
    idle = _POOLS.setdefault(id(asyncio.get_running_loop()), {}).setdefault(key, [])
    while True:
        reused = bool(idle)
        reader, writer = idle.pop() if reused else await _open(key)
        done = False
        try:
            writer.write(request)
            await writer.drain()
            response, keep = await _read(reader)
            done = True
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if reused and isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)) and \
                    not getattr(exc, "partial", b""):
                continue  # a kept connection the server had closed, before it read a byte: a new one
            raise HTTPError(f"{key[1]}:{key[2]}: {exc!r}") from None
        finally:
            if done and keep and len(idle) < KEPT:
                idle.append((reader, writer))
            else:
                writer.close()
        return response


async def _open(key: tuple):
    scheme, host, port = key
    try:
        return await asyncio.open_connection(host, port, ssl=_tls() if scheme == "https" else None)
    except OSError as exc:
        raise HTTPError(f"cannot connect to {host}:{port}: {exc!r}") from None


async def _read(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """One answer: (the response, whether the connection can carry the next request)."""
    status_line = await reader.readuntil(b"\r\n")
    version, _, rest = status_line.decode("latin-1").partition(" ")
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
    status = int(rest.split(" ", 1)[0])
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        content, length_known = b"".join(chunks), True
    elif "content-length" in headers:
        content, length_known = await reader.readexactly(int(headers["content-length"])), True
    else:  # the body runs to the end of the connection
        content, length_known = await reader.read(), False
    connection = headers.get("connection", "").lower()
    keep = length_known and ("close" not in connection) and (version != "HTTP/1.0" or "keep-alive" in connection)
    return Response(status, headers, content), keep


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """Certificates from the system's store, and certifi's bundle where it is installed (as httpx used)."""
    context = ssl.create_default_context()
    try:
        import certifi
        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context
