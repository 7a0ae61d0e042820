"""Reference orders for llm_sql: each takes a Table and returns (row_order, col_order)."""
from __future__ import annotations


def original(table):
    """The table as given: the ADRS leaderboard's 0-point anchor."""
    n, m = table.shape
    return list(range(n)), list(range(m))


def sort_all(table):
    """Columns as given, rows sorted lexicographically by all of them (equal prefixes made adjacent)."""
    n, m = table.shape
    return sorted(range(n), key=lambda r: table.rows[r]), list(range(m))


def cardinality_greedy(table):
    """Columns by fewest distinct values first (ties: longer values first), then rows sorted on that order."""
    n, m = table.shape
    def key(c):
        values = [row[c] for row in table.rows]
        return len(set(values)), -sum(map(len, values))
    cols = sorted(range(m), key=key)
    return sorted(range(n), key=lambda r: [table.rows[r][c] for c in cols]), cols


def shared_chars_greedy(table):
    """Columns by the characters their repeated values could share (sum over values of len * (count - 1)),
    most first, then rows sorted on that order: the length-weighted reading of the published heuristic."""
    n, m = table.shape
    def saved(c):
        counts: dict[str, int] = {}
        for row in table.rows:
            counts[row[c]] = counts.get(row[c], 0) + 1
        return sum(len(v) * (k - 1) for v, k in counts.items())
    cols = sorted(range(m), key=lambda c: -saved(c))
    return sorted(range(n), key=lambda r: [table.rows[r][c] for c in cols]), cols


BASELINES = {"original": original, "sort_all": sort_all, "cardinality_greedy": cardinality_greedy,
             "shared_chars_greedy": shared_chars_greedy}
