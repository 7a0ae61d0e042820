"""Hashes that find equivalent candidates before they are evaluated.

Level 1, syntactic: the normalized AST of the whole program (docstrings,
comments, annotations and formatting dropped; arguments and local names of
every function renamed canonically). Level 2, functional: the evaluator's
`probe()` outputs on a small workload, quantized (integers exact, floats to a
number of mantissa bits with NaN, infinities and -0 canonical, arrays with
dtype and shape, exceptions by type), keyed by everything that could change
them: problem, evaluator source, probe workload and quantization.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
from pathlib import Path
from typing import Any

HASH_VERSION = 1


# --- level 1 -----------------------------------------------------------------------

def syntactic_hash(code: str) -> str | None:
    """Hash of the normalized AST; None when the code does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    tree = _Normalizer().visit(tree)
    return _sha(f"ast{HASH_VERSION}:" + ast.dump(tree, annotate_fields=False, include_attributes=False))


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:] or [ast.Pass()]
    return body


class _Normalizer(ast.NodeTransformer):
    """Drops docstrings and annotations; renames each function's arguments and locals in order of use."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, str]] = []

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = _strip_docstring(node.body)
        return self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.body = _strip_docstring(node.body)
        return self.generic_visit(node)

    def _function(self, node):
        node.body = _strip_docstring(node.body)
        node.returns = None
        for deco in node.decorator_list:
            self.visit(deco)
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        outer = self.scopes[-1] if self.scopes else {}
        declared = {n for stmt in ast.walk(node) if isinstance(stmt, (ast.Global, ast.Nonlocal)) for n in stmt.names}
        scope = {k: v for k, v in outer.items()}
        args = node.args
        for i, a in enumerate([*args.posonlyargs, *args.args, *args.kwonlyargs,
                               *(x for x in (args.vararg, args.kwarg) if x)]):
            scope[a.arg] = a.arg = f"_a{len(self.scopes)}_{i}"
            a.annotation = None
        count = 0
        for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id not in declared \
                    and sub.id not in scope:
                scope[sub.id] = f"_v{len(self.scopes)}_{count}"
                count += 1
        self.scopes.append(scope)
        node.body = [self.visit(stmt) for stmt in node.body]
        self.scopes.pop()
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if self.scopes and node.id in self.scopes[-1]:
            node.id = self.scopes[-1][node.id]
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return self.visit(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno))

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # a bare string statement does nothing
        return self.generic_visit(node)


# --- level 2 -----------------------------------------------------------------------

class Unhashable(Exception):
    """The probe output cannot be hashed (unknown type, or it differs between two runs)."""


def quantize(value: Any, bits: int) -> Any:
    """A canonical, hashable form of a probe output."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, float):
        return ("f", _float(value, bits))
    if isinstance(value, (list, tuple)):
        return ("l", [quantize(v, bits) for v in value])
    if isinstance(value, dict):
        if set(value) == {"__ndarray__"}:
            arr = value["__ndarray__"]
            return ("a", arr["dtype"], list(arr["shape"]), quantize(arr["data"], bits))
        if set(value) == {"__exception__"}:
            return ("e", str(value["__exception__"]))
        if set(value) == {"__timeout__"}:
            return ("t",)
        return ("d", sorted((str(k), quantize(v, bits)) for k, v in value.items()))
    raise Unhashable(f"probe returned a {type(value).__name__}, which cannot be hashed")


def _float(x: float, bits: int) -> Any:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    if x == 0.0:
        return 0  # -0.0 and 0.0 alike
    mantissa, exponent = math.frexp(x)
    scaled = round(mantissa * (1 << bits))
    if abs(scaled) == 1 << bits:  # rounding carried into the next binade
        scaled //= 2
        exponent += 1
    return (scaled, exponent)


def functional_hash(key: str, outputs: list[Any], bits: int) -> str:
    """Hash of the probe outputs under `key`; Unhashable when the repeated runs disagree."""
    forms = [json.dumps(quantize(o, bits), sort_keys=True) for o in outputs]
    if len(set(forms)) != 1:
        raise Unhashable("the probe gave different outputs on repeated runs: the candidate is not deterministic")
    return _sha(f"{key}:{forms[0]}")


def cache_key(problem_name: str, evaluator_ref: str, probe_workload: dict, bits: int) -> str:
    """What the functional hash depends on besides the outputs, so a change never serves a stale score."""
    parts = [f"fhash{HASH_VERSION}", problem_name, evaluator_version(evaluator_ref),
             json.dumps(probe_workload, sort_keys=True), str(bits)]
    return _sha("|".join(parts))


def problem_key(problem) -> str:
    """`cache_key` of a loaded problem: its name, evaluator, probe workload and `dedup.float_bits`."""
    spec = problem.spec
    return cache_key(problem.name, problem.evaluator_ref, spec.workloads.probe or {}, spec.dedup.float_bits)


def evaluator_version(ref: str) -> str:
    """Hash of the evaluator's source: its file, or every .py file of its package, plus the shared helpers."""
    root = Path(__file__).resolve().parents[2]  # the checkout: evolve/search/fhash.py
    if ref.endswith(".py"):
        files = [Path(ref)]
    else:
        path = root.joinpath(*ref.split("."))
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    files.append(root / "evaluators" / "common.py")
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
