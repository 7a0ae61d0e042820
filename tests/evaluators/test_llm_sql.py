"""llm_sql: prefix hits on a hand-worked table, the CSV loader and its errors, invalid orders."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluators import tables
from evaluators.tables.baselines import BASELINES
from evaluators.tables.data import SHIPPED, Table, TableError, load_tables, merge_columns, read_csv, shipped
from evaluators.tables.prefix import hit_rate, prefix_hits, prompts

INITIAL = str(Path(__file__).parents[2] / "problems" / "llm_sql" / "initial.py")
# columns a, b
ROWS = (("x", "12"), ("x", "13"), ("y", "12"))


def test_three_rows_by_hand():
    # columns (a, b): prompts "x12", "x13", "y12"; hits 0, 2 ("x1" of "x12"), 0 -> 2 of 9 characters
    assert prompts(ROWS, [0, 1, 2], [0, 1]) == ["x12", "x13", "y12"]
    assert prefix_hits(["x12", "x13", "y12"]) == [0, 2, 0]
    assert hit_rate(ROWS, [0, 1, 2], [0, 1]) == (2, 9)
    # columns (b, a): "12x", "13x", "12y"; hits 0, 1 ("1"), 2 ("12" of "12x", not only the previous) -> 3 of 9
    assert prefix_hits(["12x", "13x", "12y"]) == [0, 1, 2]
    assert hit_rate(ROWS, [0, 1, 2], [1, 0]) == (3, 9)


def test_row_order_does_not_change_hits_against_any_earlier_prompt():
    # "12y", "13x", "12x": hits 0, 1, 2 -> 3 again: hits = characters - distinct prefixes (trie nodes)
    assert prefix_hits(["12y", "13x", "12x"]) == [0, 1, 2]
    for rows in ([2, 1, 0], [1, 2, 0], [0, 2, 1]):
        assert hit_rate(ROWS, rows, [1, 0]) == (3, 9)


def test_a_repeated_prompt_hits_in_full_and_empty_values_count_nothing():
    assert prefix_hits(["ab", "ab", "", "abc"]) == [0, 2, 0, 2]
    assert hit_rate((("", "ab"), ("", "ab")), [0, 1], [0, 1]) == (2, 4)


def test_csv_loader_reads_and_merges(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b,c\nx,"1,2",p\ny,3,q\n')
    t = read_csv(str(path))
    assert t.name == "t" and t.columns == ("a", "b", "c") and t.rows == (("x", "1,2", "p"), ("y", "3", "q"))
    m = merge_columns(t, [["a", "c"]])
    assert m.columns == ("b", "a_c") and m.rows == (("1,2", "xp"), ("3", "yq"))
    assert load_tables({"csv": str(path), "merges": [["b", "c"]], "rows": 1})[0].rows == (("x", "1,2p"),)


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("a,b\n", "no data rows"), ("a,a\n1,2\n", "duplicate column names"),
    ("a,b\n1,2,3\n", "line 2 has 3 fields"),
])
def test_csv_errors_name_the_file_and_the_fix(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=words) as err:
        read_csv(str(path))
    assert str(path) in str(err.value)


def test_missing_csv_and_unknown_names_fail_as_a_bad_workload(tmp_path):
    missing = str(tmp_path / "nope.csv")
    out = tables.evaluate(INITIAL, {"csv": missing})
    assert out["metrics"]["valid"] is False and missing in out["artifacts"]["error"]
    with pytest.raises(TableError, match="not in"):
        merge_columns(Table("t", ("a",), (("1",),)), [["a", "z"]])
    with pytest.raises(TableError, match="shipped tables"):
        shipped("nope")


def candidate(tmp_path, body: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize("body, words", [
    ("def reorder(t):\n    return list(range(t.shape[0]))", "return \\(row_order, col_order\\)"),
    ("def reorder(t):\n    return [0] * t.shape[0], list(range(t.shape[1]))", "row order is not a permutation"),
    ("def reorder(t):\n    return list(range(t.shape[0])), list(range(t.shape[1]))[1:]", "missing \\[0\\]"),
    ("def reorder(t):\n    c = list(range(t.shape[1])); c[0] = c[1]\n    return list(range(t.shape[0])), c",
     "repeated \\[1\\]"),
    ("def reorder(t):\n    return list(range(t.shape[0])), ['a'] * t.shape[1]", "list of ints"),
    ("def reorder(t):\n    raise RuntimeError('boom')", "boom"),
    ("def other(t):\n    pass", "must define a function `reorder`"),
])
def test_invalid_answers_are_invalid_with_a_reason(tmp_path, body, words):
    out = tables.evaluate(candidate(tmp_path, body), {"tables": ["beer"], "rows": 20})
    assert out["metrics"]["valid"] is False
    assert re.search(words, out["artifacts"]["error"]), out["artifacts"]["error"]


def test_evaluate_initial_is_deterministic_and_beats_the_original_order():
    a, b = tables.evaluate(INITIAL, {"name": "all"}), tables.evaluate(INITIAL, {"name": "all"})
    drop = lambda m: {k: v for k, v in m.items() if k not in ("runtime_s", "adrs_score")}  # noqa: E731
    assert drop(a["metrics"]) == drop(b["metrics"])
    m = a["metrics"]
    assert m["valid"] and m["hit_rate"] > m["baseline_hit_rate"] and 0 < m["adrs_score"] <= 100
    assert [r["table"] for r in a["artifacts"]["tables"]] == SHIPPED


def test_cost_mode_times_only_and_derives_the_adrs_score():
    out = tables.evaluate(INITIAL, {"name": "all", "measure": "cost",
                                    "known": {"hit_rate": 0.5, "baseline_hit_rate": 0.0}})
    assert set(out["metrics"]) == {"runtime_s", "adrs_score"}
    assert out["metrics"]["adrs_score"] == pytest.approx(47.5 + 5 * (1 - out["metrics"]["runtime_s"] / 10))


def test_probe_returns_the_deciding_head_of_each_column_order():
    out = tables.probe(INITIAL, {"name": "all", "rows": 40})
    assert len(out) == len(SHIPPED)
    for table, cols in zip(load_tables({"rows": 40}), out):
        answer = tables.call_candidate(tables.load_candidate(INITIAL).reorder, table)
        assert cols == tables.decisive_columns(table, answer[1]) and cols == answer[1][:len(cols)]


def test_the_deciding_head_decides_the_hits():
    import random

    rng = random.Random(0)
    # values that run into each other when joined ("a" + "bc" == "ab" + "c"), repeated rows, an empty column
    hand = Table("t", ("a", "b", "c"), (("ab", "c", "x"), ("a", "bc", "y"), ("ab", "c", "x"), ("b", "", "")))
    assert tables.decisive_columns(hand, [0, 1, 2]) == [0, 1, 2]  # "abc" twice: still open after 2 columns
    assert tables.decisive_columns(hand, [0, 2, 1]) == [0, 2]  # "abx", "ay", "b": none leads another
    assert tables.decisive_columns(hand, [2, 1, 0]) == [2, 1, 0]  # "" then "b" lead the others until the end
    for _ in range(300):
        width = rng.randint(1, 5)
        rows = tuple(tuple(rng.choice(["", "", "a", "b", "ab", "ba"]) if c % 4 else "" for c in range(width))
                     for _ in range(rng.randint(1, 8)))
        table = Table("t", tuple(map(str, range(width))), rows)
        by_head: dict = {}
        for _ in range(6):
            order = rng.sample(range(width), width)
            head = tuple(tables.decisive_columns(table, order))
            assert head == tuple(c for c in order if any(r[c] for r in rows))[:len(head)]
            hits = hit_rate(rows, range(len(rows)), order)
            assert by_head.setdefault(head, hits) == hits, (rows, order, head)


# Shortened from a corpus run (s0 run #10 and run #31): the starting program with other weights; the old
# probe (the first 40 rows of each table) merged them, but on the whole tables their column orders differ.
def variant(length: str, shared: str, distinct: str) -> str:
    code = Path(INITIAL).read_text()
    for name, value in (("LENGTH_WEIGHT = ", length), ("SHARED_WEIGHT = ", shared)):
        code = re.sub(f"^{name}\\S+", name + value, code, flags=re.M)
    return code.replace("distinct = len(counts) / n", f"distinct = {distinct}")


def functional_hash(tmp_path, name: str, code: str, workload=None) -> str:
    from evolve.problem import load_problem
    from evolve.search import fhash

    problem = load_problem("llm_sql")
    workload = workload or problem.spec.workloads.probe
    (tmp_path / name).write_text(code)
    key = fhash.cache_key(problem.name, problem.evaluator_ref, workload, 20)
    return fhash.functional_hash(key, [tables.probe(str(tmp_path / name), workload)], 20)


def test_probe_tells_apart_programs_that_order_the_first_rows_alike(tmp_path):
    run_10 = variant("-0.001", "0.0001", "len(counts) * n")
    run_31 = variant("-0.001", "-0.0001", "len(counts) / n")
    a, b = (tables.evaluate(candidate(tmp_path, code), {"name": "all"})["metrics"] for code in (run_10, run_31))
    assert a["hit_rate"] != b["hit_rate"]
    old = {"name": "all", "rows": 40}
    assert functional_hash(tmp_path, "a.py", run_10, old) == functional_hash(tmp_path, "b.py", run_31, old)
    assert functional_hash(tmp_path, "a.py", run_10) != functional_hash(tmp_path, "b.py", run_31)
    renamed = run_10.replace("values", "column_values").replace("counts", "seen")
    assert functional_hash(tmp_path, "a.py", run_10) == functional_hash(tmp_path, "c.py", renamed)


def test_probe_follows_the_stages_and_keeps_the_smoke_orders_of_a_late_failure(tmp_path):
    from evolve.problem import load_problem

    spec = load_problem("llm_sql").spec
    probe = spec.workloads.probe
    assert probe["stages"] == [s.workload for s in spec.workloads.stages]
    late = Path(INITIAL).read_text().replace("    n, m = table.shape\n", "    n, m = table.shape\n    assert n < 100\n")
    out = tables.probe(candidate(tmp_path, late), probe)
    assert out["error"].startswith("stage 1: ") and len(out["before"]) == 1
    assert out["before"][0] == tables.probe(INITIAL, spec.workloads.stages[0].workload)


def test_baselines_figures():
    figs = tables.baseline_figures()
    assert figs["original"]["hit_rate"] == pytest.approx(figs["sort_all"]["hit_rate"])  # row order is free
    assert figs["shared_chars_greedy"]["hit_rate"] > figs["cardinality_greedy"]["hit_rate"] > figs["original"]["hit_rate"]
    for name, fn in BASELINES.items():
        t = shipped("PDMX", 30)
        rows, cols = fn(t)
        assert sorted(rows) == list(range(30)) and sorted(cols) == list(range(t.shape[1])), name


def test_shipped_tables_have_the_published_merged_columns():
    assert shipped("movies").columns[-1] == "movieinfo_movietitle_rottentomatoeslink"
    assert shipped("PDMX").columns[-2:] == ("path_metadata",
                                            "hasmetadata_isofficial_isuserpublisher_isdraft_hasannotations_subsetall")
    assert all(shipped(n).shape[0] == 300 for n in SHIPPED)
