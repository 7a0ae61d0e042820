"""Answers for the fake server that need no model: perturb a constant of the program in the prompt.

Used by `evolve fake-llm` to dry-run a problem end to end at no cost, and by
benchmarks. A script file (JSON or YAML) is a list whose items are answers
(strings) or Step fields ({content, status, retry_after, delay, body, usage}).
"""
from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import yaml

from evolve.llm.fake_server import Step
from evolve.problem import EVOLVE_END, EVOLVE_START

_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\d+)(?![\w.])")


def parent_code(request: dict) -> str | None:
    """The current program shown in the first user message of a chat request."""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            found = _FENCE.search(str(message.get("content", "")))
            return found.group(1) if found else None
    return None


def _new_number(text: str, rng: random.Random) -> str:
    if "." not in text:
        return str(max(0, int(text) + rng.choice([-2, -1, 1, 2])))
    value = float(text) or 0.1
    return f"{value * math.exp(rng.gauss(0, 0.5)):.4f}"


def perturb_answer(request: dict, rng: random.Random) -> str:
    """A SEARCH/REPLACE edit (or, for a rewrite/crossover prompt, the whole program) changing one constant."""
    code = parent_code(request)
    if code is None:
        return "I found no program in the prompt."
    lines = code.split("\n")
    inside, candidates = False, []
    for i, line in enumerate(lines):
        if line.strip() == f"# {EVOLVE_START}":
            inside = True
        elif line.strip() == f"# {EVOLVE_END}":
            inside = False
        elif inside and not line.lstrip().startswith("#") and _NUMBER.search(line):
            candidates.append(i)
    if not candidates:
        return "I see no constant to change."
    i = rng.choice(candidates)
    matches = list(_NUMBER.finditer(lines[i]))
    m = rng.choice(matches)
    new_line = lines[i][:m.start()] + _new_number(m.group(0), rng) + lines[i][m.end():]
    last = str(request.get("messages", [{}])[-1].get("content", ""))
    if "<<<<<<< SEARCH" in last or "SEARCH/REPLACE" in last:
        return (f"Tune a constant.\n<<<<<<< SEARCH\n{lines[i]}\n=======\n{new_line}\n>>>>>>> REPLACE\n")
    lines[i] = new_line
    return "Tune a constant.\n```python\n" + "\n".join(lines) + "```\n"


def perturber(seed: int = 0, delay: float = 0.0):
    """A fake-server script (a callable) answering every request with `perturb_answer`."""
    rng = random.Random(seed)
    return lambda request: Step(content=perturb_answer(request, rng), delay=delay)


def load_script(path: Path) -> list[Step]:
    """A list of steps from a JSON or YAML file; ValueError naming the item that is wrong."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.suffix in (".yaml", ".yml") \
        else json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a script is a list of answers (strings) or steps (mappings)")
    steps = []
    for n, item in enumerate(data):
        if isinstance(item, str):
            steps.append(Step(content=item))
        elif isinstance(item, dict):
            try:
                steps.append(Step(**item))
            except TypeError as exc:
                raise ValueError(f"{path}: item {n}: {exc}; the fields are content, status, retry_after, "
                                 "delay, body, usage, headers") from None
        else:
            raise ValueError(f"{path}: item {n} is neither a string nor a mapping")
    return steps
