"""`evolve fake-llm`: its answers apply to the program of a real prompt; it runs as a command and stops on Ctrl-C."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from evolve.llm.fake_answers import load_script, perturber
from evolve.mutate.llm import ProgramView
from evolve.mutate.patch import apply_answer
from evolve.mutate.prompt import PromptBuilder, load_templates
from evolve.problem import Objective

CODE = "def f(x):\n    # EVOLVE-BLOCK-START\n    y = 2.5 * x + 3\n    return y\n    # EVOLVE-BLOCK-END\n"


def request(kind: str) -> dict:
    builder = PromptBuilder("d", [Objective(name="m", direction="max")], load_templates())
    return {"model": "fake", "messages": builder.build(kind, ProgramView(1, CODE, 1.0), [], [], None)}


@pytest.mark.parametrize("kind", ["diff", "rewrite"])
def test_perturbing_answers_apply_and_change_a_constant(kind):
    answer = perturber(seed=3)(request(kind))
    child = apply_answer(CODE, answer.content, kind)
    assert child != CODE and child.count("y = ") == 1 and "return y" in child


def test_script_file_items_are_checked(tmp_path):
    good = tmp_path / "s.yaml"
    good.write_text("- an answer\n- {status: 429, retry_after: 1}\n")
    assert [s.status for s in load_script(good)] == [200, 429]
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps([{"contnet": "x"}]))
    with pytest.raises(ValueError, match="item 0.*the fields are"):
        load_script(bad)


def test_the_command_serves_until_interrupted(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "evolve", "--runs-dir", str(tmp_path), "fake-llm", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", line).group(0)
        req = urllib.request.Request(url + "/chat/completions", json.dumps(request("diff")).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())["choices"][0]["message"]["content"]
        assert apply_answer(CODE, answer, "diff") != CODE
        proc.send_signal(signal.SIGINT)
        # the rest through the same reader: communicate() reads the pipe's fd and would miss what
        # readline() already buffered (the api_base lines, when they came in one chunk with the first)
        guard = threading.Timer(10, proc.kill)  # as communicate(timeout=10) did: never hang the suite
        guard.start()
        out = proc.stdout.read()
        guard.cancel()
        proc.wait(timeout=10)
        assert proc.returncode == 0 and "served 1 chat request(s)" in out and f"api_base: {url}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
