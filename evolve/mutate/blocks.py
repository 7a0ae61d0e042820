"""Find and replace the code between `# EVOLVE-BLOCK-START` and `# EVOLVE-BLOCK-END`."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from evolve.problem import EVOLVE_END, EVOLVE_START


@dataclass(frozen=True)
class Block:
    """Lines [start, end) of a program's lines: the body between one pair of markers."""

    start: int
    end: int
    indent: str


def find_blocks(code: str) -> list[Block]:
    """The evolve blocks of `code`, in order; ValueError when markers are unbalanced."""
    blocks, open_at = [], None
    for i, line in enumerate(code.splitlines()):
        marker = line.strip()
        if marker == f"# {EVOLVE_START}":
            if open_at is not None:
                raise ValueError(f"line {i + 1}: {EVOLVE_START} inside another block")
            open_at = i
            indent = line[: len(line) - len(line.lstrip())]
        elif marker == f"# {EVOLVE_END}":
            if open_at is None:
                raise ValueError(f"line {i + 1}: {EVOLVE_END} without a start")
            blocks.append(Block(open_at + 1, i, indent))
            open_at = None
    if open_at is not None:
        raise ValueError(f"line {open_at + 1}: {EVOLVE_START} is never closed")
    return blocks


def block_text(code: str, block: Block) -> str:
    """The block's source, dedented to column 0."""
    lines = code.splitlines()[block.start:block.end]
    return textwrap.dedent("\n".join(lines) + "\n")


def replace_blocks(code: str, new_bodies: dict[int, str]) -> str:
    """`code` with block i's body replaced by new_bodies[i] (dedented source), re-indented."""
    lines = code.splitlines()
    blocks = find_blocks(code)
    for index in sorted(new_bodies, reverse=True):
        block = blocks[index]
        body = textwrap.indent(new_bodies[index].rstrip("\n") + "\n", block.indent).splitlines()
        lines[block.start:block.end] = body
    return "\n".join(lines) + "\n"
