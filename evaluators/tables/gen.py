"""Generate the shipped tables (data/*.csv) in the shape of the ADRS llm_sql datasets.

    python -m evaluators.tables.gen     # rewrites evaluators/tables/data/*.csv (deterministic, seed 0)

Each table is reviews/comments of a few parent entities: entity columns repeat for every row of the
entity (long shared values: what a good order puts first), categorical columns have a few values,
and per-row columns (review text, ids, times) are unique. See data/README.md for the figures.
"""
from __future__ import annotations

import csv
import os
import random

from .data import DATA

WORDS = ("the a of and great plot film taste hoppy dark smooth bitter light sweet score data query table "
         "value user post answer code music piano song track product quality price fast broken works love "
         "hate best worst ok fine classic new old red blue strong weak rich thin").split()

# table -> (rows, entities, [(column, kind, arg)]); kinds: ent (entity text of arg words), eid (entity id),
# cat (one of arg values), bool, num (int below arg), text (arg words, per row), id (per row), time
SPECS = {
    "movies": (300, 24, [("rottentomatoeslink", "eid", "m/"), ("movietitle", "ent", 3), ("movieinfo", "ent", 30),
                         ("reviewtype", "cat", ["Fresh", "Rotten"]), ("topcritic", "bool", None),
                         ("publishername", "cat", 40), ("reviewcontent", "text", 20), ("reviewdate", "time", None),
                         ("criticname", "cat", 120)]),
    "beer": (300, 30, [("beer/name", "ent", 3), ("beer/beerId", "eid", ""), ("beer/brewerId", "ent", 1),
                       ("beer/ABV", "ent", 1), ("beer/style", "ent", 2), ("review/appearance", "cat", 9),
                       ("review/aroma", "cat", 9), ("review/palate", "cat", 9), ("review/taste", "cat", 9),
                       ("review/overall", "cat", 9), ("review/time", "time", None), ("review/profileName", "cat", 150),
                       ("review/text", "text", 25)]),
    "BIRD": (300, 40, [("PostId", "eid", ""), ("Body", "ent", 35), ("CommentId", "id", None),
                       ("Text", "text", 15), ("Score", "num", 10), ("UserId", "cat", 100),
                       ("CreationDate", "time", None)]),
    "PDMX": (300, 60, [("path", "eid", "./data/"), ("metadata", "ent", 12), ("hasmetadata", "bool", None),
                       ("isofficial", "bool", None), ("isuserpublisher", "bool", None), ("isdraft", "bool", None),
                       ("hasannotations", "bool", None), ("subsetall", "bool", None), ("title", "ent", 3),
                       ("artistname", "cat", 30), ("composername", "cat", 20), ("genres", "cat", 12),
                       ("rating", "num", 6), ("nnotes", "id", None), ("version", "cat", 3)]),
    "products": (300, 30, [("parent_asin", "eid", "B0"), ("product_title", "ent", 10),
                           ("main_category", "ent", 1), ("rating", "cat", 5), ("title", "text", 4),
                           ("text", "text", 25), ("user_id", "cat", 200), ("timestamp", "time", None),
                           ("helpful_vote", "num", 8), ("verified_purchase", "bool", None)]),
}


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _cell(rng: random.Random, kind: str, arg, entity: dict, col: str, row: int) -> str:
    if kind == "ent":
        return entity.setdefault(col, _words(rng, arg).title() if arg <= 3 else _words(rng, arg))
    if kind == "eid":
        return f"{arg}{entity['id']:06d}"
    if kind == "cat":
        values = arg if isinstance(arg, list) else [f"{col.split('/')[-1]}{i}" for i in range(arg)]
        return values[min(int(rng.paretovariate(1.2)) - 1, len(values) - 1)]
    if kind == "bool":
        return "True" if rng.random() < 0.7 else "False"
    if kind == "num":
        return str(rng.randrange(arg))
    if kind == "text":
        return _words(rng, rng.randint(arg // 2, arg))
    if kind == "id":
        return str(100000 + row * 7 + rng.randrange(7))
    return f"20{rng.randint(10, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def generate(name: str, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one table; rows of an entity are interleaved (the original files' order)."""
    rng = random.Random(f"{name}-{seed}")
    n_rows, n_ent, spec = SPECS[name]
    entities = [{"id": rng.randrange(10 ** 6)} for _ in range(n_ent)]
    rows = []
    for r in range(n_rows):
        ent = entities[min(int(rng.paretovariate(0.8)) - 1, n_ent - 1) if r % 2 else rng.randrange(n_ent)]
        rows.append([_cell(rng, kind, arg, ent, col, r) for col, kind, arg in spec])
    return [col for col, _, _ in spec], rows


def main() -> None:
    for name in SPECS:
        header, rows = generate(name)
        with open(os.path.join(DATA, f"{name}.csv"), "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, *rows])
        print(f"{name}: {len(rows)} rows x {len(header)} columns")


if __name__ == "__main__":
    main()
