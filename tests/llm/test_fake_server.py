"""The fake server itself, spoken to with plain urllib: scripted answers, errors, raw bodies, a callable."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from evolve.llm.fake_server import Step


def post(url: str, body: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url + "/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


BODY = {"model": "fake", "messages": [{"role": "user", "content": "x" * 40}]}


def test_serves_the_script_in_order_then_says_exhausted(fake_llm):
    server = fake_llm(["first", Step(status=429, retry_after=7), Step(content="third", usage={"prompt_tokens": 3,
                                                                                             "completion_tokens": 4})])
    status, _, body = post(server.url, BODY)
    assert status == 200 and body["choices"][0]["message"]["content"] == "first"
    assert body["usage"]["prompt_tokens"] == 10 and body["usage"]["completion_tokens"] == 1
    status, headers, body = post(server.url, BODY)
    assert status == 429 and headers["Retry-After"] == "7" and "rate limited" in body["error"]["message"]
    status, _, body = post(server.url, BODY)
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    status, _, body = post(server.url, BODY)
    assert status == 500 and "exhausted" in body["error"]["message"]
    assert [r["body"]["model"] for r in server.chat_requests] == ["fake"] * 4


def test_callable_script_sees_the_request(fake_llm):
    server = fake_llm(lambda req: f"you said {req['messages'][-1]['content'][:3]}")
    assert post(server.url, BODY)[2]["choices"][0]["message"]["content"] == "you said xxx"


def test_raw_body_is_sent_as_is(fake_llm):
    server = fake_llm([Step(body="{not json", status=200)])
    req = urllib.request.Request(server.url + "/chat/completions", json.dumps(BODY).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.read() == b"{not json"


def test_models_listing_and_unknown_route(fake_llm):
    server = fake_llm([])
    with urllib.request.urlopen(server.url + "/models", timeout=5) as r:
        assert json.loads(r.read())["data"][0]["id"] == "fake"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(server.url + "/nothing", timeout=5)
