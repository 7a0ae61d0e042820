"""Prefix-cache replay: how many characters of each row's prompt an earlier prompt already covers.

A row's prompt is its field values, as strings (a missing value is ""), joined with no separator,
in the chosen column order. Rows are sent in the chosen row order; a row's hit is the length of its
longest common prefix with any earlier prompt (a trie of earlier prompts); the hit rate is the sum of
hits over the sum of prompt lengths. This is the ADRS llm_sql harness's measure.
"""
from __future__ import annotations

from typing import Sequence


def prompts(rows: Sequence[Sequence[str]], row_order: Sequence[int], col_order: Sequence[int]) -> list[str]:
    """The prompts in send order."""
    return ["".join(rows[r][c] for c in col_order) for r in row_order]


def prefix_hits(texts: Sequence[str]) -> list[int]:
    """For each text, its longest common prefix with any earlier text (in characters)."""
    root: dict = {}
    hits = []
    for text in texts:
        node, hit = root, 0
        for ch in text:  # walk what earlier prompts share
            nxt = node.get(ch)
            if nxt is None:
                break
            node, hit = nxt, hit + 1
        for ch in text[hit:]:  # then add the rest of this prompt
            node = node.setdefault(ch, {})
        hits.append(hit)
    return hits


def hit_rate(rows, row_order, col_order) -> tuple[int, int]:
    """(hit characters, total characters) of replaying the table in this order."""
    texts = prompts(rows, row_order, col_order)
    return sum(prefix_hits(texts)), sum(len(t) for t in texts)
