"""Keep a float32 kernel honest: no library transcendental, directly or indirectly.

Two checks, both before the candidate's code runs:
- `check_source`: the AST may import only NumPy and math, may not name a
  transcendental routine or an escape hatch (eval, getattr, __import__, type,
  private attributes ...), and may use `**` only with an integer literal exponent.
- `trapped()`: while the candidate is imported and called, every such routine in
  NumPy's modules, math and builtins is replaced by a trap that records the call
  and raises, and importing scipy, ctypes and friends fails and is recorded.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import math
import sys
from typing import Iterator

import numpy as np

ALLOWED_IMPORTS = frozenset({"numpy", "math", "__future__"})
TRANSCENDENTAL = frozenset("""
exp exp2 expm1 power float_power pow log log2 log10 log1p logaddexp logaddexp2 sinh cosh tanh
arcsinh arccosh arctanh asinh acosh atanh sin cos tan arcsin arccos arctan arctan2 asin acos
atan atan2 hypot cbrt erf erfc gamma lgamma logspace geomspace frompyfunc vectorize
""".split())
ESCAPES = frozenset("""
eval exec compile __import__ importlib getattr setattr delattr globals locals vars open type
sys os ctypes cffi scipy numba builtins subprocess mpmath sympy torch jax math_exp
""".split())
FORBIDDEN_MODULES = ("scipy", "ctypes", "_ctypes", "cffi", "numba", "mpmath", "sympy", "torch",
                     "jax", "importlib", "numpy.ctypeslib")


class Dishonest(Exception):
    """The candidate uses, or tried to use, a routine the problem forbids."""


def check_source(source: str) -> None:
    """Raise Dishonest naming the first forbidden construct in the candidate's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise Dishonest(f"the candidate does not parse: {exc.msg} (line {exc.lineno})") from None
    for node in ast.walk(tree):
        reason = _node_reason(node)
        if reason:
            raise Dishonest(f"line {getattr(node, 'lineno', '?')}: {reason}")


def _node_reason(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        bad = [a.name for a in node.names if a.name.split(".")[0] not in ALLOWED_IMPORTS]
        return f"import of {', '.join(bad)} is not allowed (numpy and math only)" if bad else None
    if isinstance(node, ast.ImportFrom):
        if (node.module or "").split(".")[0] not in ALLOWED_IMPORTS or node.level:
            return f"import from {node.module or '.'} is not allowed (numpy and math only)"
        bad = [a.name for a in node.names if a.name in TRANSCENDENTAL | ESCAPES or a.name == "*"]
        return f"importing {', '.join(bad)} is not allowed" if bad else None
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name is not None:
        if name in TRANSCENDENTAL:
            return f"`{name}` is a library transcendental; build the result from float32 arithmetic"
        if name in ESCAPES:
            return f"`{name}` is not allowed in a kernel (it can reach forbidden routines indirectly)"
        if isinstance(node, ast.Attribute) and name.startswith("_"):
            return f"private or dunder attribute `{name}` is not allowed"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not _int_literal(node.right):
        return "`**` is allowed only with an integer literal exponent (x ** 2); use multiplications"
    return None


def _int_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _forbidden_objects() -> dict[int, str]:
    """id(object) -> name, for every transcendental routine in numpy, math and builtins."""
    out = {}
    for mod, names in ((np, TRANSCENDENTAL), (math, TRANSCENDENTAL), (builtins, {"pow"})):
        for name in names:
            obj = getattr(mod, name, None)
            if obj is not None:
                out[id(obj)] = f"{'np' if mod is np else mod.__name__}.{name}"
    return out


class _ImportTrap:
    """A meta-path finder that refuses (and records) imports of forbidden modules."""

    def __init__(self, log: list[str]):
        self.log = log

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in FORBIDDEN_MODULES or fullname in FORBIDDEN_MODULES:
            self.log.append(f"import {fullname}")
            raise ImportError(f"importing {fullname} is not allowed in this kernel problem")
        return None


@contextlib.contextmanager
def trapped() -> Iterator[list[str]]:
    """Replace forbidden routines by recording traps; yields the list of what was called."""
    log: list[str] = []
    forbidden = _forbidden_objects()
    saved: list[tuple[object, str, object]] = []
    modules = [m for n, m in list(sys.modules.items())
               if m is not None and (n == "numpy" or n.startswith("numpy.") or n in ("math", "builtins"))]
    for mod in modules:
        for attr, value in list(vars(mod).items()):
            if id(value) in forbidden:
                saved.append((mod, attr, value))
                setattr(mod, attr, _trap(forbidden[id(value)], log))
    hidden = {n: sys.modules.pop(n) for n in list(sys.modules)
              if n.split(".")[0] in FORBIDDEN_MODULES or n in FORBIDDEN_MODULES}
    finder = _ImportTrap(log)
    sys.meta_path.insert(0, finder)
    try:
        yield log
    finally:
        sys.meta_path.remove(finder)
        sys.modules.update(hidden)
        for mod, attr, value in saved:
            setattr(mod, attr, value)


def _trap(name: str, log: list[str]):
    def trap(*args, **kwargs):
        log.append(name)
        raise Dishonest(f"{name} is forbidden in this problem")
    trap.__name__ = name.rsplit(".", 1)[-1]
    return trap
