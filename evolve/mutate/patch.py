"""Apply an LLM's answer to a parent program: SEARCH/REPLACE edits or a rewrite of the EVOLVE-BLOCKs.

Rules: a SEARCH block must match exactly once inside one EVOLVE-BLOCK (its
marker lines included, so an insertion at a marker works); an exact line match
is tried first, then one that ignores whitespace (the REPLACE text is then
re-indented like the matched code). Code outside the blocks and the markers
themselves must come out unchanged, the child must parse and must differ from
the parent by more than comments and whitespace. Anything else is a PatchError
whose message says which block failed and why (it goes back to the model).
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from evolve.mutate.blocks import Block, find_blocks, replace_blocks
from evolve.problem import EVOLVE_START

_SEARCH = re.compile(r"^\s*<{5,}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,}\s*$")
_REPLACE = re.compile(r"^\s*>{5,}\s*REPLACE\s*$")
_FENCE = re.compile(r"```[ \t]*(?:python3|python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


class PatchError(ValueError):
    """The answer cannot be applied; the message is the reason recorded and shown to the model."""


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str


def apply_answer(parent: str, answer: str, kind: str) -> str:
    """The child program from an answer of `kind` (diff | rewrite | crossover); PatchError otherwise."""
    crlf = "\r\n" in parent
    parent_n, answer_n = _lf(parent), _lf(answer)
    if not answer_n.strip():
        raise PatchError("the answer is empty")
    if kind == "diff":
        edits = parse_edits(answer_n)
        if edits:
            child = apply_edits(parent_n, edits)
        elif EVOLVE_START in answer_n:  # a whole program instead of edits: take it as a rewrite
            child = apply_rewrite(parent_n, answer_n)
        else:
            raise PatchError("no SEARCH/REPLACE block in the answer; use the format "
                             "<<<<<<< SEARCH / ======= / >>>>>>> REPLACE")
    else:
        try:
            child = apply_rewrite(parent_n, answer_n)
        except PatchError:
            edits = parse_edits(answer_n)  # edits where a rewrite was asked for: take them
            if not edits:
                raise
            child = apply_edits(parent_n, edits)
    check_child(parent_n, child)
    return child.replace("\n", "\r\n") if crlf else child


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- SEARCH/REPLACE ------------------------------------------------------------------

def parse_edits(answer: str) -> list[Edit]:
    """The SEARCH/REPLACE blocks of an answer, in order (fences and prose around them ignored)."""
    edits, search, replace, state = [], [], [], None
    for line in answer.split("\n"):
        if state is None and _SEARCH.match(line):
            state, search, replace = "search", [], []
        elif state == "search" and _DIVIDER.match(line):
            state = "replace"
        elif state == "replace" and _REPLACE.match(line):
            edits.append(Edit("\n".join(search), "\n".join(replace)))
            state = None
        elif state == "search":
            search.append(line)
        elif state == "replace":
            replace.append(line)
    if state is not None:
        raise PatchError(f"SEARCH/REPLACE block {len(edits) + 1} is not closed: it needs "
                         "'=======' and then '>>>>>>> REPLACE'")
    return edits


def apply_edits(code: str, edits: list[Edit]) -> str:
    for number, edit in enumerate(edits, 1):
        try:
            code = _apply_one(code, edit)
        except PatchError as exc:
            raise PatchError(f"SEARCH/REPLACE block {number}: {exc}") from None
    return code


def _regions(lines: list[str]) -> list[tuple[int, int]]:
    """Per block, the line range [start marker, end marker] inclusive where an edit may fall."""
    try:
        blocks = find_blocks("\n".join(lines))
    except ValueError as exc:
        raise PatchError(f"the EVOLVE-BLOCK markers are broken: {exc}") from None
    return [(b.start - 1, b.end) for b in blocks]


def _norm(line: str) -> str:
    return "".join(line.split())


def _apply_one(code: str, edit: Edit) -> str:
    lines = code.split("\n")
    search = edit.search.split("\n")
    replace = edit.replace.split("\n") if edit.replace.strip() else []
    regions = _regions(lines)
    if not edit.search.strip():
        if len(regions) != 1:
            raise PatchError("the SEARCH part is empty; quote the lines to change (for an insertion, "
                             "the line to insert after, e.g. the EVOLVE-BLOCK-START marker, repeated in REPLACE)")
        at = regions[0][0] + 1
        return "\n".join(lines[:at] + replace + lines[at:])
    where = _locate(lines, search, regions, exact=True)
    fuzzy = where is None
    if fuzzy:
        while search and not search[0].strip():
            search = search[1:]
        while search and not search[-1].strip():
            search = search[:-1]
        where = _locate(lines, search, regions, exact=False)
        if where is None:
            raise PatchError("the SEARCH text was not found in the program (not even ignoring whitespace); "
                             "copy the lines to change exactly from the current program")
    if fuzzy:
        replace = _reindent(replace, search, lines[where])
    return "\n".join(lines[:where] + replace + lines[where + len(search):])


def _locate(lines: list[str], search: list[str], regions: list[tuple[int, int]], exact: bool) -> int | None:
    """The line where `search` starts, matched once inside a block; None if nowhere; PatchError if bad."""
    key = (lambda s: s) if exact else _norm
    want = [key(s) for s in search]
    n = len(want)
    hits = [i for i in range(len(lines) - n + 1) if [key(s) for s in lines[i:i + n]] == want]
    inside = [i for i in hits if any(a <= i and i + n - 1 <= b for a, b in regions)]
    how = "" if exact else " (ignoring whitespace)"
    if len(inside) > 1:
        at = ", ".join(str(i + 1) for i in inside)
        raise PatchError(f"the SEARCH text matches {len(inside)} times{how} (lines {at}); "
                         "include more surrounding lines so it matches exactly once")
    if inside:
        return inside[0]
    if hits:
        raise PatchError(f"the SEARCH text{how} is at line {hits[0] + 1}, outside the EVOLVE-BLOCKs "
                         "(or it spans a marker); only code between the markers may change")
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(replace: list[str], search: list[str], matched_first: str) -> list[str]:
    """Shift REPLACE lines from the SEARCH text's indentation to the matched code's."""
    old, new = _indent(search[0]) if search else "", _indent(matched_first)
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
        elif line.startswith(old):
            out.append(new + line[len(old):])
        else:
            out.append(new + line.lstrip())
    return out


# --- rewrite ---------------------------------------------------------------------------

def apply_rewrite(parent: str, answer: str) -> str:
    """New block bodies from a whole program (markers included) or from one fence per block."""
    fences = _FENCE.findall(answer)
    programs = [f for f in fences if EVOLVE_START in f]
    if programs:
        return _splice_program(parent, max(programs, key=len))
    if not fences and EVOLVE_START in answer:
        return _splice_program(parent, answer)
    blocks = find_blocks(parent)
    if fences and len(fences) == len(blocks):
        return replace_blocks(parent, {i: textwrap.dedent(body) for i, body in enumerate(fences)})
    raise PatchError(f"expected the whole program (with its EVOLVE-BLOCK markers) in one ```python fence; "
                     f"found {len(fences)} fence(s) and no markers")


def _outside(lines: list[str], blocks: list[Block]) -> list[tuple[int, str]]:
    inside = {i for b in blocks for i in range(b.start, b.end)}
    return [(i, line.rstrip()) for i, line in enumerate(lines) if i not in inside]


def _splice_program(parent: str, program: str) -> str:
    """The parent with its block bodies taken from `program`, whose other lines must equal the parent's."""
    p_lines, c_lines = parent.rstrip("\n").split("\n"), _lf(program).rstrip("\n").split("\n")
    try:
        p_blocks, c_blocks = find_blocks(parent), find_blocks("\n".join(c_lines))
    except ValueError as exc:
        raise PatchError(f"the rewritten program's EVOLVE-BLOCK markers are broken: {exc}") from None
    if len(p_blocks) != len(c_blocks):
        raise PatchError(f"the rewrite has {len(c_blocks)} EVOLVE-BLOCK(s), the program has {len(p_blocks)}")
    p_out, c_out = _outside(p_lines, p_blocks), _outside(c_lines, c_blocks)
    for (pi, pl), (ci, cl) in zip(p_out, c_out):
        if pl != cl:
            raise PatchError(f"the rewrite changes code outside the EVOLVE-BLOCKs (its line {ci + 1}: "
                             f"{cl.strip()[:80]!r}, expected {pl.strip()[:80]!r}); change only block bodies")
    if len(p_out) != len(c_out):
        raise PatchError("the rewrite adds or drops lines outside the EVOLVE-BLOCKs; change only block bodies")
    out = list(p_lines)
    for pb, cb in reversed(list(zip(p_blocks, c_blocks))):
        out[pb.start:pb.end] = c_lines[cb.start:cb.end]
    return "\n".join(out) + ("\n" if parent.endswith("\n") else "")


# --- the child ---------------------------------------------------------------------------

def check_child(parent: str, child: str) -> None:
    """Markers and outside code intact, parses, and differs from the parent in more than formatting."""
    p_lines, c_lines = parent.split("\n"), child.split("\n")
    try:
        p_blocks, c_blocks = find_blocks(parent), find_blocks(child)
    except ValueError as exc:
        raise PatchError(f"the edit breaks the EVOLVE-BLOCK markers: {exc}") from None
    if len(p_blocks) != len(c_blocks) or [l for _, l in _outside(p_lines, p_blocks)] != \
            [l for _, l in _outside(c_lines, c_blocks)]:
        raise PatchError("the edit changes code outside the EVOLVE-BLOCKs or the markers themselves; "
                         "only code between the markers may change")
    if child == parent:
        raise PatchError("the patch gives back the parent unchanged (no-op)")
    try:
        child_tree = ast.parse(child)
    except SyntaxError as exc:
        raise PatchError(f"the child does not parse: line {exc.lineno}: {exc.msg}") from None
    try:
        same = ast.dump(child_tree) == ast.dump(ast.parse(parent))
    except SyntaxError:
        same = False
    if same:
        raise PatchError("the patch changes only comments or whitespace: the program is the parent's (no-op)")
