"""An LLM-free mutator: AST edits inside the EVOLVE-BLOCKs.

Operators: perturb a numeric constant, swap a comparison or arithmetic
operator, swap min/max, replace a variable by another in scope, add a new
weighted term to an expression, swap or drop statements, and crossover of two
parents' blocks. Every child parses; a child equal to its parent or to any
program already seen is retried, never returned.
"""
from __future__ import annotations

import ast
import builtins
import functools
import math
import random
from dataclasses import dataclass
from typing import Callable

from evolve.mutate.blocks import block_text, find_blocks, replace_blocks

MAX_ATTEMPTS = 30
_BUILTINS = frozenset(dir(builtins))
_COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
                  ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq]}
_ARITH = [ast.Add, ast.Sub, ast.Mult, ast.Div]


@dataclass(frozen=True)
class Child:
    code: str
    mutation: str  # e.g. "offline:constant+swap_name" or "offline:crossover"


class OfflineMutator:
    """Proposes children of a parent (and optionally a second parent) by AST edits."""

    def __init__(self, rng: random.Random, crossover_rate: float = 0.1):
        self.rng = rng
        self.crossover_rate = crossover_rate

    def propose(self, parent: str, seen: Callable[[str], bool], other: str | None = None) -> Child | None:
        """A new child, or None when MAX_ATTEMPTS edits all gave back known code."""
        for _ in range(MAX_ATTEMPTS):
            if other is not None and self.rng.random() < self.crossover_rate:
                code, label = crossover(parent, other, self.rng), "crossover"
            else:
                code, label = self._edit(parent)
            if code is None or not _compiles(code):
                continue
            if _same_program(code, parent) or seen(code):
                continue
            return Child(code, f"offline:{label}")
        return None

    def _edit(self, parent: str) -> tuple[str | None, str]:
        blocks = find_blocks(parent)
        index = self.rng.randrange(len(blocks))
        try:
            tree = ast.parse(block_text(parent, blocks[index]))
        except SyntaxError:
            return None, "unparseable-block"
        labels = []
        n_ops = 1 + (self.rng.random() < 0.3) + (self.rng.random() < 0.1)
        for _ in range(n_ops):
            name, op = self.rng.choice(OPERATORS)
            if op(tree, self.rng):
                labels.append(name)
                if op in _ADDS_NODES:  # the others change nodes in place (or add operators, which have no place)
                    ast.fix_missing_locations(tree)
        if not labels:
            return None, "none"
        return replace_blocks(parent, {index: ast.unparse(tree)}), "+".join(labels)


def _compiles(code: str) -> bool:
    try:
        compile(code, "<candidate>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _same_program(a: str, b: str) -> bool:
    return _dump(a) == _dump(b)


@functools.lru_cache(maxsize=256)
def _dump(code: str) -> str:
    """The AST of `code` as text (a parent is compared with each of its children: read it once)."""
    return ast.dump(ast.parse(code))


# --- operators: each edits `tree` in place and returns whether it changed something ---

def _nodes(tree: ast.AST, kind) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, kind)]


def perturb_constant(tree: ast.AST, rng: random.Random) -> bool:
    consts = [n for n in _nodes(tree, ast.Constant)
              if isinstance(n.value, (int, float)) and not isinstance(n.value, bool)]
    if not consts:
        return False
    node = rng.choice(consts)
    node.value = new_constant(node.value, rng)
    return True


def new_constant(value: int | float, rng: random.Random) -> int | float:
    """A nearby (or, from zero, a fresh random-scale) value of the same type."""
    if isinstance(value, int):
        return value + rng.choice([-2, -1, 1, 2]) if rng.random() < 0.7 else value * rng.choice([2, -1]) or 1
    if value == 0 or not math.isfinite(value):
        return round(rng.choice([-1, 1]) * 10 ** rng.uniform(-2, 2), 4)
    roll = rng.random()
    if roll < 0.6:
        new = value * math.exp(rng.gauss(0, 0.7))
    elif roll < 0.8:
        new = value + rng.gauss(0, abs(value))
    elif roll < 0.9:
        new = -value
    else:
        new = 0.0
    return float(f"{new:.4g}")


def swap_compare(tree: ast.AST, rng: random.Random) -> bool:
    sites = [(n, i) for n in _nodes(tree, ast.Compare) for i, op in enumerate(n.ops) if type(op) in _COMPARE_SWAPS]
    if not sites:
        return False
    node, i = rng.choice(sites)
    node.ops[i] = rng.choice(_COMPARE_SWAPS[type(node.ops[i])])()
    return True


def swap_arith(tree: ast.AST, rng: random.Random) -> bool:
    sites = [n for n in _nodes(tree, (ast.BinOp, ast.AugAssign)) if type(n.op) in _ARITH]
    if not sites:
        return False
    node = rng.choice(sites)
    node.op = rng.choice([op for op in _ARITH if op is not type(node.op)])()
    return True


def swap_min_max(tree: ast.AST, rng: random.Random) -> bool:
    calls = [n for n in _nodes(tree, ast.Call) if isinstance(n.func, ast.Name) and n.func.id in ("min", "max")]
    if not calls:
        return False
    node = rng.choice(calls)
    node.func.id = "max" if node.func.id == "min" else "min"
    return True


def _scope(tree: ast.AST) -> tuple[list[ast.Name], list[str], dict[str, int]]:
    """One walk of the block: its Name nodes, the names that hold values (read or assigned, not functions,
    not builtins; sorted), and the first line each name is assigned on."""
    nodes = _nodes(tree, (ast.Name, ast.Call))
    names = [n for n in nodes if isinstance(n, ast.Name)]
    called = {n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    stores: dict[str, int] = {}
    for n in names:
        if isinstance(n.ctx, ast.Store):
            stores[n.id] = min(stores.get(n.id, n.lineno), n.lineno)
    return names, sorted({n.id for n in names} - called - _BUILTINS), stores


def _names_before(tree: ast.AST, lineno: int, scope: tuple | None = None) -> list[str]:
    """Value names usable at `lineno`: free names of the block, and names assigned above it."""
    _, values, stores = scope or _scope(tree)
    return [name for name in values if stores.get(name, 0) < lineno]


def swap_name(tree: ast.AST, rng: random.Random) -> bool:
    scope = _scope(tree)  # the tree does not change until a swap is made
    names, values, _ = scope
    value_set = set(values)
    loads = [n for n in names if isinstance(n.ctx, ast.Load) and n.id in value_set]
    rng.shuffle(loads)
    for node in loads:
        options = [name for name in _names_before(tree, node.lineno, scope) if name != node.id]
        if options:
            node.id = rng.choice(options)
            return True
    return False


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, make: Callable[[ast.expr], ast.expr]):
        self.target, self.make = target, make

    def generic_visit(self, node):
        if node is self.target:
            return self.make(node)
        return super().generic_visit(node)


def add_term(tree: ast.AST, rng: random.Random) -> bool:
    """expr -> expr + c * name: lets the search grow new dependencies."""
    sites = [n for n in _nodes(tree, ast.BinOp) if isinstance(n.op, (ast.Add, ast.Sub, ast.Mult))]
    if not sites:
        return False
    target = rng.choice(sites)
    names = _names_before(tree, target.lineno)
    if not names:
        return False
    coef = ast.Constant(new_constant(0.0, rng))
    term = ast.BinOp(coef, ast.Mult(), ast.Name(rng.choice(names), ast.Load()))
    _Replace(target, lambda e: ast.BinOp(e, ast.Add(), term)).visit(tree)
    return True


def _bodies(tree: ast.AST) -> list[list[ast.stmt]]:
    return [body for n in ast.walk(tree) for field in ("body", "orelse")
            if isinstance(body := getattr(n, field, None), list) and body and isinstance(body[0], ast.stmt)]


def swap_statements(tree: ast.AST, rng: random.Random) -> bool:
    bodies = [b for b in _bodies(tree) if len(b) >= 2]
    if not bodies:
        return False
    body = rng.choice(bodies)
    i = rng.randrange(len(body) - 1)
    body[i], body[i + 1] = body[i + 1], body[i]
    return True


def drop_statement(tree: ast.AST, rng: random.Random) -> bool:
    bodies = [b for b in _bodies(tree) if len(b) >= 2]
    if not bodies:
        return False
    body = rng.choice(bodies)
    del body[rng.randrange(len(body))]
    return True


_ADDS_NODES = {add_term}  # operators whose new nodes need line numbers (a later edit reads them)

OPERATORS: list[tuple[str, Callable[[ast.AST, random.Random], bool]]] = [
    ("constant", perturb_constant), ("constant", perturb_constant), ("constant", perturb_constant),
    ("compare", swap_compare), ("arith", swap_arith), ("min_max", swap_min_max),
    ("swap_name", swap_name), ("add_term", add_term),
    ("swap_statements", swap_statements), ("drop_statement", drop_statement),
]


def crossover(a: str, b: str, rng: random.Random) -> str | None:
    """Mix two parents: each block from either parent, or a one-point cut of one block's statements."""
    blocks_a, blocks_b = find_blocks(a), find_blocks(b)
    if len(blocks_a) != len(blocks_b):
        return None
    if len(blocks_a) > 1:
        picks = {i: block_text(b, blocks_b[i]) for i in range(len(blocks_b)) if rng.random() < 0.5}
        return replace_blocks(a, picks) if picks else None
    try:
        body_a = ast.parse(block_text(a, blocks_a[0])).body
        body_b = ast.parse(block_text(b, blocks_b[0])).body
    except SyntaxError:
        return None
    if len(body_a) < 2 or len(body_b) < 2:
        return None
    cut = rng.randrange(1, min(len(body_a), len(body_b)))
    mixed = ast.Module(body=body_a[:cut] + body_b[cut:], type_ignores=[])
    return replace_blocks(a, {0: ast.unparse(mixed)})
