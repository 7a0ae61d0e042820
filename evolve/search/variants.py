"""Rewrites of a program meant to keep its behaviour: a corpus for judging the duplicate filter.

Each rewrite edits the code inside the EVOLVE-BLOCKs (at any indentation: a function's
body, a class with its methods) and gives the whole program back, or None where it has
nothing to rewrite. They keep what the program computes (renamed locals, comments, dead
statements, commuted sums and products, mirrored comparisons, reordered independent
assignments, a conditional expression as if/else, `x += y` as `x = x + y`), though not
always what it costs: a dead copy of a computation adds its operations. Whether a
rewrite really kept the score is for a full evaluation to say (benchmarks/fhash.py);
`evolve check` uses the dead copy to find a cost the problem does not declare.
"""
from __future__ import annotations

import ast
import random
import re
from typing import Callable

from evolve.mutate.blocks import block_text, find_blocks, replace_blocks


def variants(code: str, rng: random.Random) -> list[tuple[str, str]]:
    """(label, program) for every rewrite that applies to `code` (one site each, chosen by `rng`)."""
    out = []
    for label, rewrite in REWRITES.items():
        new = rewrite(code, rng)
        if new is not None and new != code:
            out.append((label, new))
    return out


def _on_blocks(code: str, rng: random.Random, edit: Callable[[ast.Module, random.Random, str], bool]) -> str | None:
    """`edit` applied to one block's tree (the first, of those in random order, where it changes something)."""
    blocks = find_blocks(code)
    for index in rng.sample(range(len(blocks)), len(blocks)):
        try:
            tree = ast.parse(block_text(code, blocks[index]))
        except SyntaxError:
            continue
        if edit(tree, rng, _outside(code, blocks[index])):
            ast.fix_missing_locations(tree)
            return replace_blocks(code, {index: ast.unparse(tree)})
    return None


def _outside(code: str, block) -> str:
    lines = code.splitlines()
    return "\n".join(lines[:block.start] + lines[block.end:])


def _pick(rng: random.Random, items: list):
    return rng.choice(items) if items else None


# --- the rewrites ----------------------------------------------------------------------------------

def rename_locals(code: str, rng: random.Random) -> str | None:
    """Every local assigned inside a function (or in a block that is a function's body) renamed."""
    def edit(tree, rng, outside):
        changed = False
        for body in _bodies(tree):
            changed |= _rename_in(body, outside)
        return changed
    return _on_blocks(code, rng, edit)


def _rename_in(body: list[ast.stmt], outside: str) -> bool:
    """Rename the names stored in `body`'s own scope, unless a nested scope, a declaration or the code
    outside the block also uses them."""
    module = ast.Module(body=body, type_ignores=[])
    nested = {n.id for f in ast.walk(module) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              for n in ast.walk(f) if isinstance(n, ast.Name)}
    nested |= {a.arg for n in ast.walk(module) if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef))
               for a in [*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs]}
    nested |= {name for n in ast.walk(module) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
    stored = {n.id for stmt in body for n in _own_nodes(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    mapping = {name: f"{name}_v" for name in sorted(stored - nested)
               if not re.search(rf"\b{re.escape(name)}\b", outside)}
    for stmt in body:
        for n in _own_nodes(stmt):
            if isinstance(n, ast.Name) and n.id in mapping:
                n.id = mapping[n.id]
    return bool(mapping)


def _own_nodes(stmt: ast.stmt):
    """The nodes of a statement, not descending into nested functions and classes (their own scopes)."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stack.append(child)


def add_comments(code: str, rng: random.Random) -> str | None:
    """A comment line at the top of each block and one after its first line of code (text, not AST)."""
    lines = code.splitlines()
    for block in sorted(find_blocks(code), key=lambda b: -b.start):
        first = next((i for i in range(block.start, block.end) if lines[i].strip()), None)
        if first is not None:
            lines[first] += "  # (a comment)"
        lines.insert(block.start, f"{block.indent}# a comment that changes nothing")
    return "\n".join(lines) + "\n"


def pass_statement(code: str, rng: random.Random) -> str | None:
    """A `pass` before one statement (the code differs; what it does does not)."""
    def edit(tree, rng, outside):
        body = _pick(rng, _bodies(tree))
        if body is None:
            return False
        body.insert(rng.randrange(len(body)), ast.Pass())
        return True
    return _on_blocks(code, rng, edit)


def dead_constant(code: str, rng: random.Random) -> str | None:
    """An assignment of a constant to a name nothing reads."""
    def edit(tree, rng, outside):
        body = _pick(rng, _bodies(tree))
        if body is None:
            return False
        body.insert(rng.randrange(len(body)), ast.parse("_unused_constant = 0").body[0])
        return True
    return _on_blocks(code, rng, edit)


def dead_copy(code: str, rng: random.Random) -> str | None:
    """A copy of one assignment's value into a name nothing reads: the same outputs, one more computation."""
    def edit(tree, rng, outside):
        sites = [(body, i) for body in _bodies(tree) for i, s in enumerate(body)
                 if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                 and not isinstance(s.value, ast.Constant)]
        working = [(b, i) for b, i in sites if any(isinstance(n, (ast.BinOp, ast.Call)) for n in ast.walk(b[i].value))]
        site = _pick(rng, working or sites)  # a copy that computes something, where there is one
        if site is None:
            return False
        body, i = site
        body.insert(i + 1, ast.Assign(targets=[ast.Name("_unused_copy", ast.Store())], value=body[i].value))
        return True
    return _on_blocks(code, rng, edit)


def commute(code: str, rng: random.Random) -> str | None:
    """a + b as b + a, or a * b as b * a (exact for numbers)."""
    def edit(tree, rng, outside):
        node = _pick(rng, [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Mult))])
        if node is None:
            return False
        node.left, node.right = node.right, node.left
        return True
    return _on_blocks(code, rng, edit)


MIRROR = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}


def mirror_compare(code: str, rng: random.Random) -> str | None:
    """a < b as b > a."""
    def edit(tree, rng, outside):
        node = _pick(rng, [n for n in ast.walk(tree) if isinstance(n, ast.Compare) and len(n.ops) == 1
                           and type(n.ops[0]) in MIRROR])
        if node is None:
            return False
        node.left, node.comparators = node.comparators[0], [node.left]
        node.ops = [MIRROR[type(node.ops[0])]()]
        return True
    return _on_blocks(code, rng, edit)


def reorder(code: str, rng: random.Random) -> str | None:
    """Two adjacent assignments that do not touch each other's names (and call nothing), swapped."""
    def edit(tree, rng, outside):
        sites = [(body, i) for body in _bodies(tree) for i in range(len(body) - 1) if _independent(body[i], body[i + 1])]
        site = _pick(rng, sites)
        if site is None:
            return False
        body, i = site
        body[i], body[i + 1] = body[i + 1], body[i]
        return True
    return _on_blocks(code, rng, edit)


def _independent(a: ast.stmt, b: ast.stmt) -> bool:
    if not all(isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets) for s in (a, b)):
        return False
    if any(isinstance(n, ast.Call) for s in (a, b) for n in ast.walk(s.value)):
        return False
    names = [{t.id for t in s.targets} for s in (a, b)]
    reads = [{n.id for n in ast.walk(s.value) if isinstance(n, ast.Name)} for s in (a, b)]
    return not (names[0] & (names[1] | reads[1]) or names[1] & reads[0])


def ternary_as_if(code: str, rng: random.Random) -> str | None:
    """`return x if c else y` as `if c: return x` / `return y`."""
    def edit(tree, rng, outside):
        sites = [(body, i) for body in _bodies(tree) for i, s in enumerate(body)
                 if isinstance(s, ast.Return) and isinstance(s.value, ast.IfExp)]
        site = _pick(rng, sites)
        if site is None:
            return False
        body, i = site
        expr = body[i].value
        body[i:i + 1] = [ast.If(test=expr.test, body=[ast.Return(expr.body)], orelse=[]), ast.Return(expr.orelse)]
        return True
    return _on_blocks(code, rng, edit)


def expand_augassign(code: str, rng: random.Random) -> str | None:
    """`x += y` as `x = x + y` (for numbers; a list or an array in place is another matter)."""
    def edit(tree, rng, outside):
        node = _pick(rng, [n for n in ast.walk(tree) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)])
        if node is None:
            return False
        value = ast.BinOp(left=ast.Name(node.target.id, ast.Load()), op=node.op, right=node.value)
        node.__class__ = ast.Assign
        node.targets, node.value = [ast.Name(node.target.id, ast.Store())], value
        del node.target, node.op
        return True
    return _on_blocks(code, rng, edit)


def _bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    """Statement lists that run: function bodies, and the block itself when it is a function's body."""
    out = [n.body for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if any(isinstance(n, ast.Return) for n in tree.body):
        out.append(tree.body)
    return out


REWRITES: dict[str, Callable[[str, random.Random], str | None]] = {
    "rename locals": rename_locals, "comments": add_comments, "pass statement": pass_statement,
    "dead constant": dead_constant, "dead copy": dead_copy, "commuted operands": commute,
    "mirrored comparison": mirror_compare, "reordered assignments": reorder, "ternary as if": ternary_as_if,
    "x += y as x = x + y": expand_augassign,
}
