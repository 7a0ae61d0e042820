"""The leaderboard browser driven headless with textual's pilot on a fixture database."""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent, Tree

from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Program
from evolve.runs import open_run
from evolve.tui.app import HelpScreen, LeaderboardApp
from tests.tui.fixture_db import make_run

SIZE = (160, 48)


@pytest.fixture
def board(tmp_path):
    make_run(tmp_path / "runs", "demo")
    factory, run = open_run(tmp_path / "runs", "demo")
    return tmp_path / "runs" / "demo" / "evolve.db", factory, run


def drive(factory, run, script, poll_s=None):
    async def main():
        app = LeaderboardApp(factory, run.id, poll_s=poll_s)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await script(app, pilot)
    asyncio.run(main())


def text_of(app, selector: str) -> str:
    """What a Static shows, as plain text (rendered the way the terminal would)."""
    from rich.console import Console

    console = Console(width=150, record=True, file=open("/dev/null", "w"))
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def table_ids(app) -> list[int]:
    dt = app.query_one(DataTable)
    return [int(dt.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(dt.row_count)]


def test_opens_ranked_by_score_with_best_selected(board):
    _, factory, run = board

    async def script(app, pilot):
        assert table_ids(app) == [6, 4, 2, 1, 5, 3, 7]  # scored best first, infeasible by how far they miss, the rest
        assert app.selected == 6
        labels = [str(c.label) for c in app.query_one(DataTable).columns.values()]
        assert labels[:4] == ["id", "score ▼", "closeness", "size"] and "pareto" in labels and "model" in labels
        info = text_of(app, "#info-view")
        assert "#6" in info and "offline:constant" in info and "closeness" in info
        assert "demo" in text_of(app, "#status") and "showing 7 of 7" in text_of(app, "#status")
    drive(factory, run, script)


def test_sort_by_metric_pareto_and_reverse(board):
    _, factory, run = board

    async def script(app, pilot):
        await pilot.press("s")  # closeness (max): same order as score
        assert app.sort_key == "closeness" and table_ids(app)[:4] == [6, 4, 2, 1]
        await pilot.press("s")  # size (min): smallest first
        assert app.sort_key == "size" and table_ids(app)[:4] == [1, 4, 6, 2]
        await pilot.press("s")  # pareto: the front (1, 4, 6) before the dominated 2
        assert app.sort_key == "pareto" and table_ids(app)[3] == 2 and set(table_ids(app)[:3]) == {1, 4, 6}
        await pilot.press("o")
        assert app.reverse and table_ids(app)[:4] == [2, 1, 4, 6]
        assert "(reversed)" in text_of(app, "#status")
    drive(factory, run, script)


def test_select_shows_code_diff_feedback_and_llm_call(board):
    _, factory, run = board

    async def script(app, pilot):
        await pilot.press("down")  # #4, made by the LLM
        assert app.selected == 4
        await pilot.press("d")
        assert app.query_one(TabbedContent).active == "diff"
        diff = text_of(app, "#diff-view")
        assert "-    a = 3.0" in diff and "+    a = 6.0" in diff
        assert "a = 6.0" in text_of(app, "#code-view")
        llm = text_of(app, "#llm-view")
        assert "fake/model-a" in llm and "1200 in / 300 out" in llm and "$0.0123" in llm
        assert "<<<SEARCH" not in llm  # the response only on demand
        await pilot.press("p")
        assert app.query_one(TabbedContent).active == "llm" and "<<<SEARCH" in text_of(app, "#llm-view")
        await pilot.press("down", "down", "down", "down")  # #3, failed by timeout (after infeasible #5)
        assert app.selected == 3
        info = text_of(app, "#info-view")
        assert "timeout" in info and "hello from the evaluator" in info
    drive(factory, run, script)


def test_walk_the_lineage(board):
    _, factory, run = board

    async def script(app, pilot):
        await pilot.press("t")
        tree = app.query_one(Tree)
        chain = [tree.root]
        while chain[-1].children:
            chain.append(chain[-1].children[0])
        assert [n.data for n in chain[1:4]] == [1, 2, 4]  # ancestors of #6, oldest first
        assert chain[4].data == 6 and chain[5].data == 7  # the program, then its child
        await pilot.press("u")  # to the parent
        assert app.selected == 4 and table_ids(app)[app.query_one(DataTable).cursor_row] == 4
        # jump along the tree: select the node of #1 with the keyboard
        tree.focus()
        await pilot.pause()
        line = next(i for i in range(tree.last_line + 1) if tree.get_node_at_line(i).data == 1)
        tree.cursor_line = line
        await pilot.press("enter")
        assert app.selected == 1
        assert "the starting program has no parent" in text_of(app, "#diff-view")
    drive(factory, run, script)


def test_filter_by_status_model_and_id(board):
    _, factory, run = board

    async def script(app, pilot):
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"status:failed")
        assert table_ids(app) == [3] and app.selected == 3
        app.query_one(Input).value = "model:fake"
        await pilot.pause()
        assert table_ids(app) == [4]
        app.query_one(Input).value = "#5"
        await pilot.pause()
        assert table_ids(app) == [5]
        app.query_one(Input).value = "status:nothing"
        await pilot.pause()
        assert table_ids(app) == [] and "matches none" in text_of(app, "#code-view")
        await pilot.press("enter")
        assert isinstance(app.focused, DataTable)
    drive(factory, run, script)


def test_graphs_and_help(board):
    _, factory, run = board

    async def script(app, pilot):
        await pilot.press("g")
        graphs = text_of(app, "#graphs-view")
        assert "best score over evaluations" in graphs and "Pareto front: 3 of 4 scored programs" in graphs
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        footer_keys = {k for k, b in app.active_bindings.items() if b.binding.show}
        assert {"q", "s", "d", "question_mark"} <= footer_keys
    drive(factory, run, script)


def test_follows_a_run_that_writes(board):
    db, factory, run = board
    writer = open_database(sqlite_url(db))

    async def script(app, pilot):
        await pilot.press("down")
        assert app.selected == 4
        with writer.begin() as session:  # the run records a new best while the browser is open
            session.add(Program(id=8, run_id=run.id, iteration=7, parent_id=6, generation=4, island=0,
                                mutation="offline:constant", code="x = 1\n", code_hash="h8", status="evaluated",
                                score=-0.5, metrics={"valid": True, "closeness": -0.5, "size": 9.0}))
            session.get(Program, 7).status = "failed"
        worker = app.poll()
        await worker.wait()
        await pilot.pause()
        assert table_ids(app)[0] == 8 and len(table_ids(app)) == 8
        assert app.selected == 4  # the cursor stays on the program being read
        assert "showing 8 of 8" in text_of(app, "#status")
    drive(factory, run, script)
