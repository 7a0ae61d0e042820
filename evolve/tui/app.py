"""`evolve leaderboard`: browse a run's programs in the terminal (textual).

A sortable, filterable table on the left; the selected program on the right
(code, diff, metrics and feedback, LLM call, lineage) and charts. It reads the
database through a read-only connection and polls it, so it follows a run that
is writing without ever holding a lock the run needs.
"""
from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane, Tree

from evolve.tui import charts, detail, lineage, snapshot, summary
from evolve.tui import table as tbl

HELP = """\
[b]evolve leaderboard[/b] — keys

  ↑ ↓ / PgUp PgDn   move in the table (the right pane follows)
  s                 sort by the next key (score, metrics, pareto, time, generation, id)
  o                 reverse the sort order
  click a header    sort by that column
  /                 filter: status:failed island:1 model:gpt mut:crossover, or an id
  escape            back to the table (clears an empty filter)
  c d i l t g       tabs: code, diff, info (metrics + feedback), llm, lineage, graphs
  p                 show the prompt and response of the LLM call
  u                 go to the parent;  b  go to the best program
  enter (lineage)   jump to that program
  r                 reload now (it also reloads by itself while the run writes)
  ?                 this help;  q  quit
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close")]
    DEFAULT_CSS = "HelpScreen { align: center middle; } #help { width: 80; height: auto; border: thick $accent; " \
                  "background: $panel; padding: 1 2; }"

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")


class LeaderboardApp(App):
    TITLE = "evolve leaderboard"
    CSS = """
    #status { height: auto; padding: 0 1; background: $boost; }
    #filter { height: 3; }
    #body { height: 1fr; }
    #table { width: 3fr; min-width: 40; }
    #side { width: 4fr; }
    VerticalScroll { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("s", "sort_next", "sort"),
        Binding("o", "reverse", "order"),
        Binding("slash", "focus_filter", "filter", key_display="/"),
        Binding("escape", "focus_table", "table", show=False),
        Binding("c", "tab('code')", "code"),
        Binding("d", "tab('diff')", "diff"),
        Binding("i", "tab('info')", "info"),
        Binding("l", "tab('llm')", "llm", show=False),
        Binding("t", "tab('lineage')", "lineage"),
        Binding("g", "tab('graphs')", "graphs"),
        Binding("p", "prompt", "prompt", show=False),
        Binding("u", "parent", "parent"),
        Binding("b", "best", "best", show=False),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self, factory, run_id: int, poll_s: float | None = 2.0):
        super().__init__()
        self.factory, self.run_id, self.poll_s = factory, run_id, poll_s
        self.snap = snapshot.load(factory, run_id)
        self.stamp = snapshot.fingerprint(factory, run_id)
        self.sort_key, self.reverse, self.query = "score", False, ""
        self.selected: int | None = None
        self.show_prompt = False
        self.shown_rows: list[int] = []

    # --- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Input(placeholder="filter: status:evaluated island:1 model:gpt mut:crossover 42  (/ to focus)",
                    id="filter")
        with Horizontal(id="body"):
            yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
            with TabbedContent(id="side", initial="info"):
                for name in ("code", "diff", "info", "llm"):
                    with TabPane(name, id=name):
                        with VerticalScroll():
                            yield Static(id=f"{name}-view")
                with TabPane("lineage", id="lineage"):
                    yield Tree("lineage", id="tree")
                with TabPane("graphs", id="graphs"):
                    with VerticalScroll():
                        yield Static(id="graphs-view")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.snap.name
        self.fill_table()
        self.query_one(DataTable).focus()
        if self.poll_s:
            self.set_interval(self.poll_s, self.poll)

    # --- the table ------------------------------------------------------------------
    def fill_table(self) -> None:
        """Rebuild the table from the snapshot, keeping the selected program under the cursor."""
        dt = self.query_one(DataTable)
        keep = self.selected
        dt.clear(columns=True)
        cols = tbl.columns(self.snap)
        for col in cols:
            arrow = (" ▲" if self.reverse else " ▼") if col.key == self.sort_key else ""
            dt.add_column(Text(col.label + arrow), key=col.key)
        ranks = self.snap.pareto_ranks() if len(self.snap.objectives) > 1 else {}
        rows = tbl.visible(self.snap, self.query, self.sort_key, self.reverse)
        self.shown_rows = [r.id for r in rows]
        for r in rows:
            dt.add_row(*(Text(tbl.cell(self.snap, r, c.key, ranks)) for c in cols), key=str(r.id))  # never markup
        self.update_status()
        if not rows:
            self.selected = None
            self.show_program(None)
            return
        target = keep if keep in self.shown_rows else rows[0].id
        dt.move_cursor(row=self.shown_rows.index(target))
        self.select(target)

    def update_status(self) -> None:
        line = summary.status_line(self.snap)
        line.append(f"   sort: {self.sort_key}{' (reversed)' if self.reverse else ''}", style="cyan")
        line.append(f"   showing {len(self.shown_rows)} of {len(self.snap.rows)}")
        counts = self.snap.counts()
        line.append("   " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), style="dim")
        self.query_one("#status", Static).update(line)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.select(int(event.row_key.value))

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        key = {"parent": "generation", "mutation": "id", "status": "id"}.get(key, key)
        if key == self.sort_key:
            self.reverse = not self.reverse
        else:
            self.sort_key, self.reverse = key, False
        self.fill_table()

    # --- the selected program -------------------------------------------------------
    def select(self, program_id: int) -> None:
        if program_id == self.selected:
            return
        self.selected = program_id
        self.show_prompt = False
        self.show_program(program_id)

    def show_program(self, program_id: int | None) -> None:
        views = {n: self.query_one(f"#{n}-view", Static) for n in ("code", "diff", "info", "llm")}
        tree = self.query_one(Tree)
        tree.clear()
        row = self.snap.by_id.get(program_id) if program_id is not None else None
        got = snapshot.detail(self.factory, self.run_id, program_id) if row else None
        if row is None or got is None:
            for view in views.values():
                view.update(Text("no program selected (the filter matches none)", style="dim"))
            self.draw_graphs()
            return
        views["code"].update(detail.code(got))
        views["diff"].update(detail.diff(got, row))
        views["info"].update(Group(detail.summary(self.snap, row), Text(""), detail.feedback(got, row)))
        views["llm"].update(detail.llm(got, self.show_prompt))
        self.fill_tree(tree, program_id)
        self.draw_graphs()

    def fill_tree(self, tree: Tree, program_id: int) -> None:
        chain = lineage.ancestors(self.snap, program_id)
        tree.root.label = f"lineage of #{program_id}"
        node = tree.root
        for row in chain:
            node = node.add(_tree_label(row, row.id == program_id), data=row.id, expand=True)
        kids = lineage.descendants(self.snap, program_id, depth=3)

        def grow(parent, pid):
            for child in kids.get(pid, []):
                grow(parent.add(_tree_label(self.snap.by_id[child], False), data=child, expand=True), child)

        grow(node, program_id)
        tree.root.expand()

    def draw_graphs(self) -> None:
        view = self.query_one("#graphs-view", Static)
        width = max(40, (view.size.width or 70) - 2)
        lines = charts.step_chart(self.snap.best_curve(), width, 10)
        if len(self.snap.objectives) > 1:
            lines += [""] + charts.pareto_chart(self.snap, width, 14)
        view.update(Text("\n".join(lines)))

    @on(Tree.NodeSelected)
    def _jump(self, event: Tree.NodeSelected) -> None:
        if event.node.data is not None:
            self.jump(int(event.node.data))

    def jump(self, program_id: int) -> None:
        """Select a program in the table, clearing the filter if it hides it."""
        if program_id not in self.snap.by_id:
            self.notify(f"no program #{program_id}", severity="warning")
            return
        if program_id not in self.shown_rows:
            self.query = ""
            self.query_one(Input).value = ""
        self.selected = program_id
        self.fill_table()
        self.show_program(program_id)

    # --- actions --------------------------------------------------------------------
    def action_sort_next(self) -> None:
        keys = tbl.sort_keys(self.snap)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self.reverse = False
        self.fill_table()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.fill_table()

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.query = event.value
        self.fill_table()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_prompt(self) -> None:
        self.show_prompt = not self.show_prompt
        got = snapshot.detail(self.factory, self.run_id, self.selected) if self.selected else None
        if got is not None:
            self.query_one("#llm-view", Static).update(detail.llm(got, self.show_prompt))
        self.action_tab("llm")

    def action_parent(self) -> None:
        row = self.snap.by_id.get(self.selected) if self.selected is not None else None
        if row is None or row.parent_id is None:
            self.notify("the starting program has no parent")
            return
        self.jump(row.parent_id)

    def action_best(self) -> None:
        if self.snap.best is not None:
            self.jump(self.snap.best.id)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_reload(self) -> None:
        self.apply(snapshot.load(self.factory, self.run_id), snapshot.fingerprint(self.factory, self.run_id))

    # --- live -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="poll")
    def poll(self) -> None:
        """Off the UI thread: reload only when the run has written something."""
        try:
            stamp = snapshot.fingerprint(self.factory, self.run_id)
            if stamp != self.stamp:  # while the run goes on, read what changed; once it ends, all of it
                running = stamp[3] == self.stamp[3] == "running"
                fresh = snapshot.refresh(self.factory, self.snap) if running else snapshot.load(self.factory, self.run_id)
                self.call_from_thread(self.apply, fresh, stamp)
        except Exception as exc:  # a database busy or gone: say so, keep what is shown
            self.call_from_thread(self.notify, f"could not reload: {exc}", severity="warning", markup=False)

    def apply(self, snap: snapshot.Snapshot, stamp: tuple) -> None:
        self.snap, self.stamp = snap, stamp
        previous = self.selected
        self.fill_table()
        if self.selected == previous and previous is not None:
            self.show_program(previous)


def _tree_label(row, current: bool) -> Text:
    text = lineage.label(row)
    return Text.assemble(("▶ ", "bold yellow"), text) if current else text
