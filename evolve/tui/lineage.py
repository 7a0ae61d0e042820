"""Lineage of a program: its ancestors back to the starting program, and its descendants."""
from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from evolve.tui.snapshot import Row, Snapshot


def label(row: Row) -> Text:
    """`#12 0.8123 offline:constant` coloured by status; second parents and duplicates noted."""
    score = f"{row.score:.6g}" if row.score is not None else row.status
    style = {"evaluated": "green", "failed": "red", "infeasible": "yellow", "duplicate": "magenta"}.get(row.status, "dim")
    out = Text(f"#{row.id} ", style="bold")
    out.append(score, style=style)
    out.append(f"  {row.mutation}", style="cyan")
    if row.model:
        out.append(f" [{row.model}]", style="blue")
    if row.second_parent_id is not None:
        out.append(f"  ×#{row.second_parent_id}", style="dim")
    if row.duplicate_of is not None:
        out.append(f"  = #{row.duplicate_of}", style="magenta")
    return out


def ancestors(snap: Snapshot, program_id: int) -> list[Row]:
    """The chain of first parents, oldest first, ending with the program itself."""
    chain, seen = [], set()
    current = snap.by_id.get(program_id)
    while current is not None and current.id not in seen:
        seen.add(current.id)
        chain.append(current)
        current = snap.by_id.get(current.parent_id) if current.parent_id is not None else None
    return chain[::-1]


def descendants(snap: Snapshot, program_id: int, depth: int) -> dict[int, list[int]]:
    """Children lists reachable from program_id within `depth` generations."""
    out, frontier = {}, [program_id]
    for _ in range(depth):
        nxt = []
        for pid in frontier:
            kids = snap.children.get(pid, [])
            if kids:
                out[pid] = kids
                nxt.extend(kids)
        frontier = nxt
    return out


def tree(snap: Snapshot, program_id: int, depth: int = 3) -> Tree:
    """Ancestors as a chain down to the program (highlighted), then its descendants to `depth`."""
    chain = ancestors(snap, program_id)
    if not chain:
        return Tree(f"no program #{program_id}")
    root = node = Tree(label(chain[0]))
    for row in chain[1:]:
        node = node.add(label(row))
    node.label = Text.assemble(("▶ ", "bold yellow"), node.label)
    kids = descendants(snap, program_id, depth)

    def grow(parent_node: Tree, pid: int) -> None:
        for child in kids.get(pid, []):
            grow(parent_node.add(label(snap.by_id[child])), child)

    grow(node, program_id)
    return root
