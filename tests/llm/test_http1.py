"""evolve.llm.http1 against a raw server on 127.0.0.1 that answers with the bytes each test scripts."""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess

import pytest

from evolve.llm import http1


async def _serve(answers: list, seen: list):
    """A server that reads one request per answer on a connection and writes that answer's bytes; an answer
    of None closes the connection instead, "hang" never answers."""
    async def handle(reader, writer):
        seen.append("connection")
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                seen.append((head.decode(), json.loads(await reader.readexactly(length))))
                answer = answers.pop(0)
                if answer == "hang":
                    await asyncio.sleep(30)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or b"Content-Length" not in answer and b"chunked" not in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"


def _ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def _run(answers, calls, timeout=5.0):
    async def main():
        seen: list = []
        server, url = await _serve(list(answers), seen)
        out = []
        async with server:
            for body in calls:
                try:
                    out.append(await http1.post_json(url, body, {"Authorization": "Bearer k"}, timeout))
                except http1.HTTPError as exc:
                    out.append(exc)
        return out, seen
    return asyncio.run(main())


def test_a_post_carries_the_json_and_headers_and_reads_the_answer():
    (r,), seen = _run([_ok(b'{"a": 1}', "Retry-After: 3\r\n")], [{"q": [1, 2]}])
    assert r.status_code == 200 and r.json() == {"a": 1} and r.headers["retry-after"] == "3"
    head, body = seen[1]
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n") and "Authorization: Bearer k" in head
    assert body == {"q": [1, 2]}


def test_chunked_and_until_close_answers():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n5\r\n: 22}\r\n0\r\n\r\n"
    (r1, r2), _ = _run([chunked, b"HTTP/1.0 500 Oops\r\n\r\nbroken"], [{}, {}])
    assert r1.json() == {"a": 22}
    assert r2.status_code == 500 and r2.text == "broken"


def test_connections_are_kept_and_a_closed_one_is_replaced():
    # two answers on one connection, then the server closes it while idle: the third call opens a new one
    (r1, r2, r3), seen = _run([_ok(b"1"), _ok(b"2"), None, _ok(b"3")], [{}, {}, {"n": 3}])
    assert [r1.text, r2.text] == ["1", "2"]
    assert not isinstance(r3, Exception) and r3.text == "3", r3
    assert [x if x == "connection" else x[1] for x in seen] == ["connection", {}, {}, {"n": 3}, "connection", {"n": 3}]


def test_a_slow_answer_times_out_and_nothing_listening_is_an_http_error():
    (r,), _ = _run(["hang"], [{}], timeout=0.3)
    assert isinstance(r, http1.Timeout)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(http1.HTTPError) as err:
        asyncio.run(http1.post_json(f"http://127.0.0.1:{port}/x", {}, {}, 2.0))
    assert not isinstance(err.value, http1.Timeout)


def test_not_http_is_an_error():
    (r,), _ = _run([b"SSH-2.0-OpenSSH\r\n"], [{}])
    assert isinstance(r, http1.HTTPError)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command to make a certificate with")
def test_https_checks_the_certificate(tmp_path, monkeypatch):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async def main(trusted: bool):
        http1._tls.cache_clear()
        if trusted:
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        else:
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)

        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_ok(b'{"tls": true}'))
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=served)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
        async with server:
            try:
                return (await http1.post_json(url, {}, {}, 5.0)).json()
            except http1.HTTPError as exc:
                return exc
    try:
        assert asyncio.run(main(trusted=True)) == {"tls": True}
        refused = asyncio.run(main(trusted=False))  # a certificate nobody vouches for
        assert isinstance(refused, http1.HTTPError) and "CERTIFICATE_VERIFY_FAILED" in str(refused), refused
    finally:
        http1._tls.cache_clear()
