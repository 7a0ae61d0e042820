"""Tables to reorder: the shipped ones (data/*.csv, see data/README.md) or a user's CSV.

Each shipped table has the ADRS harness's column merges applied on load: the listed columns are
replaced by one column named by joining their names with "_", whose value is their values joined
(appended after the remaining columns, as the harness's pandas code does).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# the harness's merge specs per dataset (its col_merge argument)
MERGES: dict[str, list[list[str]]] = {
    "movies": [["movieinfo", "movietitle", "rottentomatoeslink"]],
    "beer": [["beer/beerId", "beer/name"]],
    "BIRD": [["PostId", "Body"]],
    "PDMX": [["path", "metadata"],
             ["hasmetadata", "isofficial", "isuserpublisher", "isdraft", "hasannotations", "subsetall"]],
    "products": [["product_title", "parent_asin"]],
}
SHIPPED = list(MERGES)


class TableError(ValueError):
    """A table cannot be loaded; the message names the file and the fix."""


@dataclass(frozen=True)
class Table:
    """What `reorder()` receives: column names and rows of strings (a missing value is "")."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.columns)

    def head(self, n: int) -> "Table":
        return Table(self.name, self.columns, self.rows[:n])


def read_csv(path: str, name: str | None = None, merges: list[list[str]] | None = None) -> Table:
    """A CSV file with a header row as a Table; TableError naming the file and the fix otherwise."""
    if not os.path.isfile(path):
        raise TableError(f"CSV file not found: {path}; give `csv:` a path to an existing file "
                         f"(relative paths are taken from the evaluator's working directory)")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"cannot parse CSV file {path}: {exc}; save it as UTF-8 comma-separated text") from None
    if not records or not records[0]:
        raise TableError(f"CSV file {path} is empty; it needs a header row and at least one data row")
    header = records[0]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise TableError(f"CSV file {path} has duplicate column names {dup}; rename them")
    rows = records[1:]
    if not rows:
        raise TableError(f"CSV file {path} has a header but no data rows; add rows")
    for i, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise TableError(f"CSV file {path} line {i} has {len(row)} fields, the header has {len(header)}; "
                             f"quote values that contain commas")
    table = Table(name or os.path.splitext(os.path.basename(path))[0], tuple(header), tuple(map(tuple, rows)))
    return merge_columns(table, merges or [], path)


def merge_columns(table: Table, merges: list[list[str]], path: str = "") -> Table:
    """Replace each group of columns by one concatenated column appended at the end."""
    columns, rows = list(table.columns), [list(r) for r in table.rows]
    for group in merges:
        missing = [c for c in group if c not in columns]
        if missing:
            raise TableError(f"merge {group} names columns {missing} not in {path or table.name}; "
                             f"columns are {columns}")
        idx = [columns.index(c) for c in group]
        keep = [i for i in range(len(columns)) if i not in idx]
        rows = [[r[i] for i in keep] + ["".join(r[i] for i in idx)] for r in rows]
        columns = [columns[i] for i in keep] + ["_".join(group)]
    return Table(table.name, tuple(columns), tuple(map(tuple, rows)))


def shipped(name: str, rows: int | None = None) -> Table:
    """A shipped table by name, merges applied, optionally its first `rows` rows."""
    if name not in MERGES:
        raise TableError(f"unknown table {name!r}; shipped tables: {', '.join(SHIPPED)} (or give `csv: PATH`)")
    table = read_csv(os.path.join(DATA, f"{name}.csv"), name, MERGES[name])
    return table.head(rows) if rows else table


def load_tables(workload: dict) -> list[Table]:
    """The tables a workload mapping selects: {csv: PATH[, merges]} or {tables: [..] | name: all, rows: N}."""
    rows = workload.get("rows")
    if workload.get("csv"):
        table = read_csv(str(workload["csv"]), None, workload.get("merges"))
        return [table.head(rows) if rows else table]
    names = workload.get("tables") or ([] if workload.get("name", "all") == "all" else [workload["name"]])
    return [shipped(n, rows) for n in (names or SHIPPED)]
