"""`--set KEY=VALUE`: change any key of a problem's YAML from the command line, validated like the file.

A KEY is a dotted path of the Problem YAML reference (`llm.retries`, `evolution.budget.iterations`);
`name[N]` (or `name.N`) is entry N of a list and `name[]` every entry (`llm.models[].timeout_s`).
A VALUE is YAML (`5`, `true`, `30m`, `[a, b]`, `{k: v}`; empty or `null` is none). The settings
are written into the YAML mapping before it is validated, so a bad one fails as the file would,
naming the flag. A run remembers its settings (`overrides` in its stored config) and a resumed run
applies them again, under the ones given to `resume`.

Order, lowest first: the YAML file; the settings the run remembers (resume); the flags that replace
part of the YAML (`--model`); this command's `--set`. A flag and a `--set` of the same key (or of a
mapping holding it) in one command are an error; a `--set` below a flag's key (`--model X --set
llm.models[].timeout_s=30`) applies to what the flag made. A flag given to `resume` takes the place of
the remembered settings at, above or below its key for that session.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from evolve.problem import Problem, ProblemError, ProblemSpec, load_problem

EVERY = "[]"  # a path part: every entry of a list
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+)((?:\[\d*\])*)")
# the command-line flags that set a key of the YAML: (Overrides attribute, flag, key)
FLAG_KEYS = (("iterations", "--iterations", "evolution.budget.iterations"),
             ("wall_time_s", "--wall-time", "evolution.budget.wall_time"),
             ("concurrency", "--concurrency", "evolution.concurrency"),
             ("executor", "--executor", "executor.kind"),
             ("ray_address", "--ray-address", "executor.ray.address"),
             ("models", "--model", "llm.models"), ("models", "--model", "llm.mutator"))
# the budget limits (evolve.budget.KEYS) and the keys that hold them
BUDGET_KEYS = {"iterations": "evolution.budget.iterations", "wall_time": "evolution.budget.wall_time",
               "target_score": "evolution.budget.target_score", "patience": "evolution.budget.patience",
               "concurrency": "evolution.concurrency"}


class OverrideError(ProblemError):
    """A `--set` (or a flag) cannot be applied to the problem; the message names it and the fix."""


# --- parsing: KEY=VALUE, checked against the schema ----------------------------------------------

def parse(text: str) -> tuple[str, Any]:
    """argparse type of `--set`: 'KEY=VALUE' -> (canonical key, YAML value); ArgumentTypeError if wrong."""
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE; write e.g. --set llm.retries=5 or "
                                         "--set evolution.budget.iterations=20")
    try:
        parts = split(key.strip())
        check_key(parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}': {exc}") from None
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise argparse.ArgumentTypeError(f"'{text}': the value is not YAML ({problem}); quote it, e.g. "
                                         f"--set '{key}=\"...\"'") from None
    return join(parts), value


def split(key: str) -> list:
    """'llm.models[0].timeout_s' -> ['llm', 'models', 0, 'timeout_s']; `[]` (or `.[]`) stays EVERY."""
    parts: list = []
    for piece in key.split("."):
        m = _PART.fullmatch(piece)
        if piece == EVERY and parts:
            parts.append(EVERY)
            continue
        if not m:
            raise ValueError(f"'{key}' is not a key path; write names joined by '.', with [N] for entry N "
                             "of a list and [] for every entry, e.g. llm.models[0].timeout_s")
        name, index = m.groups()
        parts.append(int(name) if name.isdigit() else name)
        parts += [int(i) if i else EVERY for i in re.findall(r"\[(\d*)\]", index)]
    return parts


def join(parts: list) -> str:
    """The canonical spelling of a path: 'llm.models[0].timeout_s', 'llm.models[].name'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else EVERY if part == EVERY else f".{part}" if out else part
    return out


def _shape(annotation) -> tuple[str, Any]:
    """What a field holds: ('model', cls), ('list', item annotation), ('dict', None) or ('value', None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        shapes = [_shape(a) for a in typing.get_args(annotation) if a is not type(None)]
        return next((s for s in shapes if s[0] != "value"), ("value", None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    if origin is dict:
        return "dict", None
    return "value", None


def check_key(parts: list) -> None:
    """Raise ValueError, naming the known keys and a likely one, when `parts` is no key of a problem."""
    shape: tuple[str, Any] = ("model", ProblemSpec)
    for n, part in enumerate(parts):
        where = join(parts[:n])
        if shape[0] == "dict":  # a workload mapping: any keys
            return
        if isinstance(part, int) or part == EVERY:
            if shape[0] != "list":
                raise ValueError(f"`{where}` is not a list, so `{join(parts[:n + 1])}` names nothing")
            shape = _shape(shape[1])
            continue
        if shape[0] != "model":
            raise ValueError(f"`{where}` holds a {'list' if shape[0] == 'list' else 'value'}, not keys; "
                             f"`{join(parts[:n + 1])}` names nothing"
                             + (f" (use `{where}[N].{part}` for entry N, `{where}[].{part}` for every entry)"
                                if shape[0] == "list" else ""))
        fields = shape[1].model_fields
        if part not in fields:
            raise ValueError(_unknown(parts[:n], part, shape[1]))
        shape = _shape(fields[part].annotation)


def _unknown(prefix: list, part: str, model: type[BaseModel]) -> str:
    key, where = join(prefix + [part]), join(prefix)
    known = ", ".join(model.model_fields)
    guess = _guess(prefix, part)
    hint = f"; did you mean `{guess}`?" if guess else "."
    return (f"unknown key `{key}`: {'`' + where + '`' if where else 'a problem'} has no key `{part}`{hint} "
            f"Known keys {'under `' + where + '`' if where else 'at the top'}: {known} (see the README's "
            "Problem YAML reference)")


def key_paths(model: type[BaseModel] = ProblemSpec, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the schema (lists as EVERY), parents before children."""
    out = []
    for name, field in model.model_fields.items():
        path = prefix + (name,)
        out.append(path)
        kind, inner = _shape(field.annotation)
        if kind == "list" and _shape(inner)[0] == "model":
            out += key_paths(_shape(inner)[1], path + (EVERY,))
        elif kind == "model":
            out += key_paths(inner, path)
    return out


def _guess(prefix: list, part: str) -> str | None:
    """The known key most like `prefix.part`: a key of that name (or a close one) below `prefix`, else anywhere."""
    paths = key_paths()
    for scope in (tuple(prefix), ()):
        below = [p for p in paths if p[:len(scope)] == scope and len(p) > len(scope)]
        scored = [(difflib.SequenceMatcher(None, part, p[-1]).ratio(), -len(p), p) for p in below]
        scored = [s for s in scored if s[0] >= 0.8]
        if scored:
            return join(list(max(scored)[2]))
    return None


# --- applying to the YAML mapping ---------------------------------------------------------------

def shown(key: str, value: Any) -> str:
    """`KEY=VALUE` as a user would type it."""
    if value is None:
        text = "null"
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        text = text.removesuffix("...").strip()
    return f"{key}={text}"


def apply(data: dict, settings: dict[str, Any], label: Callable[[str, Any], str]) -> dict:
    """`data` (a problem's YAML mapping) with each setting written in, in order; a copy."""
    out = copy.deepcopy(data)
    for key, value in settings.items():
        try:
            _put(out, split(key), value, [])
        except ValueError as exc:
            raise OverrideError(f"{label(key, value)}: {exc}") from None
    return out


def _put(node, parts: list, value, done: list) -> None:
    part, rest = parts[0], parts[1:]
    here = join(done) or "the problem"
    if part == EVERY or isinstance(part, int):
        if not isinstance(node, list) or not node:
            raise ValueError(f"`{here}` has no entries to set; set the whole list instead, e.g. "
                             f"--set '{here}=[...]'")
        if isinstance(part, int) and part >= len(node):
            raise ValueError(f"`{here}` has {len(node)} entr{'y' if len(node) == 1 else 'ies'}, so "
                             f"[{part}] is past its end (entries count from 0)")
        for i in (range(len(node)) if part == EVERY else [part]):
            _step(node, i, rest, value, done + [part])
        return
    if not isinstance(node, dict):
        raise ValueError(f"`{here}` is {node!r} in the problem, not a mapping, so `{join(done + parts)}` cannot "
                         f"be set inside it; set the whole `{here}` instead")
    _step(node, part, rest, value, done + [part])


def _step(node, at, rest: list, value, done: list) -> None:
    if not rest:
        node[at] = copy.deepcopy(value)
        return
    child = node.get(at) if isinstance(node, dict) else node[at]
    if child is None and not isinstance(rest[0], int) and rest[0] != EVERY:
        child = node[at] = {}  # a section the file leaves out (or null): made, so its key can be set
    _put(child, rest, value, done)


def related(loc: tuple, key: str) -> bool:
    """Whether a validation error at `loc` concerns the setting `key` (one path holds the other)."""
    parts = split(key)
    n = min(len(loc), len(parts))
    return all(p == EVERY and isinstance(q, int) or p == q for p, q in zip(parts[:n], loc[:n]))


def _errors(data: dict) -> list[dict]:
    try:
        ProblemSpec.model_validate(data)
    except ValidationError as exc:
        return exc.errors()
    return []


def validate(original: dict, data: dict, layers: list[tuple[dict, Callable[[str, Any], str]]]) -> None:
    """Raise OverrideError naming the setting when the edited mapping fails where a setting wrote (an
    error the file has without the settings is left to the file's own message)."""
    errors = _errors(data)
    if errors:
        theirs = {(tuple(e["loc"]), e["type"]) for e in _errors(original)}
        found: dict[str, list[str]] = {}
        for err in errors:
            loc = tuple(err["loc"])
            if (loc, err["type"]) in theirs:
                continue
            owner = next((label(k, v) for settings, label in reversed(layers)
                          for k, v in reversed(list(settings.items())) if related(loc, k)), None)
            if owner is not None:
                where = ".".join(str(p) for p in loc) or "(top level)"
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                got = repr(err.get("input"))
                got = got if len(got) <= 100 else got[:97] + "..."
                found.setdefault(owner, []).append(f"key '{where}': {msg} (got {got})")
        if found:
            raise OverrideError("; ".join(f"{owner}: {', '.join(errs)}" for owner, errs in found.items())
                                + ". Give a value that the README's Problem YAML reference allows.") from None


# --- one command's settings ---------------------------------------------------------------------

def merge(*layers: dict) -> dict:
    """Settings of later layers over earlier ones; a key set again moves to the end (it applies last)."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            out.pop(key, None)
            out[key] = value
    return out


def collect(pairs: list[tuple[str, Any]] | None) -> dict:
    """The `--set` values of one command line, in order (a key given twice: the last one)."""
    return merge(*({k: v} for k, v in pairs or []))


def _covers(key: str, path: str) -> bool:
    """`key` sets `path` itself or a mapping holding it."""
    a, b = split(key), split(path)
    return len(a) <= len(b) and related(tuple(b), key)


def _given(overrides) -> list[tuple[str, str]]:
    return [(flag, path) for attr, flag, path in FLAG_KEYS if getattr(overrides, attr, None)]


def check_conflicts(overrides) -> None:
    """A flag and a `--set` of the same key in one command: an error, exit 2, nothing written."""
    for flag, path in _given(overrides):
        for key, value in (overrides.settings or {}).items():
            if _covers(key, path):
                below = " (a --set below it, e.g. llm.models[].timeout_s, applies to the --model models)"
                raise OverrideError(f"--set {shown(key, value)} and {flag} both set `{path}`; give one of them"
                                    + (below if flag == "--model" else ""))


def flag_settings(overrides) -> dict:
    """The YAML edits of the flags that replace part of it: `--model` (at `--api-base`)."""
    if not getattr(overrides, "models", None):
        return {}
    base = {"api_base": overrides.api_base} if overrides.api_base else {}
    return {"llm.models": [{"name": n, **base} for n in overrides.models], "llm.mutator": "llm"}


def pinned_budget(settings: dict | None) -> set[str]:
    """The budget limits (evolve.budget.KEYS) that this command's `--set` gives."""
    return {name for name, path in BUDGET_KEYS.items() for key in (settings or {}) if _covers(key, path)}


def load(ref, overrides, remembered: dict | None = None, run: str | None = None) -> Problem:
    """Load problem `ref` with the command's flags and `--set`, over the settings run `run` remembers."""
    check_conflicts(overrides)
    given = _given(overrides)
    kept = {k: v for k, v in (remembered or {}).items()
            if not any(_covers(k, path) or _covers(path, k) for _, path in given)}
    mine = overrides.settings or {}
    layers = [(kept, lambda k, v: f"--set {shown(k, v)} (remembered by run {run}; give --set {k}=... to replace it)"),
              (flag_settings(overrides), lambda k, v: next(f for f, p in given if _covers(k, p))),
              (mine, lambda k, v: f"--set {shown(k, v)}")]

    def edit(original: dict) -> dict:
        data = original
        for settings, label in layers:
            data = apply(data, settings, label)
        validate(original, data, layers)
        return data

    problem = load_problem(ref, edit=edit)
    problem.settings = merge(remembered or {}, mine)
    return problem


# --- what a run stores and shows ----------------------------------------------------------------

def remembered(config: dict | None) -> dict:
    """The settings a run's stored config remembers."""
    kept = (config or {}).get("overrides")
    return dict(kept) if isinstance(kept, dict) else {}


def stamped(config: dict, problem: Problem) -> dict:
    """`config` (a run's stored spec) with the settings in force and the sections they touch as run now."""
    settings = getattr(problem, "settings", None) or {}
    if not settings:
        return config
    out = copy.deepcopy(config)
    spec = problem.spec.model_dump(mode="json")
    for section in {split(key)[0] for key in settings}:
        out[section] = spec[section]
    out["overrides"] = dict(settings)
    return out


def describe(settings: dict) -> str:
    """One line: the settings in force, e.g. `settings (--set): llm.retries=5, dedup.functional=false`."""
    return "settings (--set): " + ", ".join(shown(k, v) for k, v in settings.items())
