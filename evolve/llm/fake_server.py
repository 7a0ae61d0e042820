"""A local OpenAI-compatible chat server that serves scripted answers: tests and dry runs, no spend.

    with FakeLLMServer(["answer 1", Step(status=429, retry_after=0), Step(delay=5)]) as server:
        ...  # point a model at api_base=server.url (model name "openai/<anything>")
    server.requests  # every request received: {"path", "body", "headers"}

A script is a list of steps served in order (strings are answers), or a callable
`(request_body: dict) -> Step | str` asked for each request. When a list runs
out the server answers 500 "script exhausted" (or repeats the last step with
`repeat_last=True`).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Union


@dataclass
class Step:
    """One scripted reply: an answer (`content`), an HTTP error (`status`), or a raw `body`."""

    content: str | None = ""
    status: int = 200
    retry_after: float | None = None  # sent as the Retry-After header
    delay: float = 0.0  # seconds to wait before answering (a slow model)
    body: str | None = None  # raw response body, sent as is (malformed JSON, ...)
    usage: dict | None = None  # token usage; by default about 4 characters a token
    headers: dict = field(default_factory=dict)


Script = Union[Iterable[Union[Step, str]], Callable[[dict], Union[Step, str]]]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def completion_body(step: Step, request: dict) -> dict:
    """The JSON of an OpenAI chat completion carrying step.content and token usage."""
    prompt = "".join(str(m.get("content", "")) for m in request.get("messages", []))
    usage = step.usage or {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(step.content or "")}
    usage = {**usage, "total_tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)}
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": step.content}}],
        "usage": usage,
    }


class FakeLLMServer:
    """A ThreadingHTTPServer on 127.0.0.1 (port 0 by default) serving a script; a context manager."""

    def __init__(self, script: Script, port: int = 0, repeat_last: bool = False, host: str = "127.0.0.1"):
        self._next = script if callable(script) else None
        self._steps = None if callable(script) else list(script)
        self.repeat_last = repeat_last
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The api_base to configure: http://127.0.0.1:PORT/v1"""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:  # serving in the background thread: end it first
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def step_for(self, request: dict) -> Step:
        with self._lock:
            if self._next is not None:
                got = self._next(request)
            elif self._steps:
                got = self._steps[0] if self.repeat_last and len(self._steps) == 1 else self._steps.pop(0)
            else:
                got = Step(status=500, body=json.dumps({"error": {"message": "fake server: script exhausted"}}))
        return Step(content=got) if isinstance(got, str) else got


def _handler(server: FakeLLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else header and body segments wait ~40 ms for a delayed ACK

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, headers: dict | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                pass

        def do_GET(self) -> None:
            server.requests.append({"path": self.path, "body": None, "headers": dict(self.headers)})
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}))
            else:
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw or "{}")
            except json.JSONDecodeError:
                body = {"_raw": raw}
            server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                return
            step = server.step_for(body)
            if step.delay:
                time.sleep(step.delay)
            headers = dict(step.headers)
            if step.retry_after is not None:
                headers["Retry-After"] = f"{step.retry_after:g}"
            if step.body is not None:
                self._send(step.status, step.body, headers)
            elif step.status != 200:
                message = {429: "rate limited (fake)", 401: "invalid api key (fake)",
                           404: "model not found (fake)"}.get(step.status, "server error (fake)")
                error = {"error": {"message": message, "type": "fake", "code": step.status}}
                self._send(step.status, json.dumps(error), headers)
            else:
                self._send(200, json.dumps(completion_body(step, body)), headers)

    return Handler
