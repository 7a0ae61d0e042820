"""What one program looks like on screen: code, diff, metrics and feedback, and the LLM call that made it."""
from __future__ import annotations

import difflib
import json

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from evolve.tui.snapshot import Detail, Row, Snapshot

TAIL = 1500  # characters of stdout/stderr shown


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def code(detail: Detail) -> Syntax:
    """The program's code, long lines wrapped (never cut at the edge of the terminal)."""
    return Syntax(detail.code, "python", line_numbers=True, word_wrap=True)


def diff(detail: Detail, row: Row) -> RenderableType:
    if not detail.diff:
        why = "the starting program has no parent" if row.parent_id is None else "no diff stored"
        return Text(why, style="dim")
    return Syntax(detail.diff, "diff", word_wrap=True)


def diff_between(code_a: str, code_b: str, name_a: str, name_b: str) -> str:
    return "".join(difflib.unified_diff(code_a.splitlines(True), code_b.splitlines(True), name_a, name_b, n=3))


def summary(snap: Snapshot, row: Row) -> Table:
    """The program's facts and all its metrics, objectives first."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    parents = fmt(row.parent_id) + (f" × {row.second_parent_id}" if row.second_parent_id else "")
    facts = [("program", f"#{row.id} (iteration {row.iteration}, generation {row.generation})"),
             ("status", row.status), ("score", fmt(row.score)), ("made by", row.mutation), ("parent", parents)]
    if snap.has("island") and row.island is not None:
        facts.append(("island", str(row.island)))
    if row.duplicate_of is not None:
        facts.append(("duplicate of", f"#{row.duplicate_of}"))
    ranks = snap.pareto_ranks() if len(snap.objectives) > 1 else {}
    if row.id in ranks:
        facts.append(("pareto rank", str(ranks[row.id])))
    kids = snap.children.get(row.id, [])
    facts.append(("children", ", ".join(f"#{k}" for k in kids) or "none"))
    names = [o.name for o in snap.objectives]
    facts += [(f"  {name}", fmt(row.metrics[name])) for name in names + sorted(set(row.metrics) - set(names))
              if name in row.metrics]
    for k, v in facts:  # Text: names and values from the evaluator are never markup
        t.add_row(Text(k), Text(v))
    return t


def feedback(detail: Detail, row: Row) -> RenderableType:
    """Evaluator feedback: the program's error, then each stage attempt with its artifacts and output
    tails; an error already shown (the stage's, its artifacts' `error`) is not repeated."""
    parts: list[RenderableType] = []
    shown: list[str] = []
    if row.error:
        parts.append(Text("error\n", style="bold red") + Text(row.error))
        shown.append(row.error)
    for e in detail.evaluations:
        head = Text(f"stage {e.get('stage')}: {e.get('status')}", style="bold")
        head.append(f"  passed={bool(e.get('passed'))}  wall {fmt(e.get('wall_s'))} s  cpu {fmt(e.get('cpu_s'))} s",
                    style="dim")
        parts.append(head)
        artifacts = dict(e.get("artifacts") or {})
        if _said(artifacts.get("error"), shown):
            artifacts.pop("error")
        if artifacts:
            parts.append(Text("  artifacts: " + json.dumps(artifacts, default=str)[:2000]))
        if e.get("error") and not _said(e["error"], shown):
            parts.append(Text("  error: " + str(e["error"]), style="red"))
            shown.append(str(e["error"]))
        for stream in ("stdout", "stderr"):
            if e.get(stream):
                parts.append(Text(f"  {stream}: ", style="dim") + Text(str(e[stream])[-TAIL:]))
    return Group(*parts) if parts else Text("no evaluation yet", style="dim")


def _said(text, shown: list[str]) -> bool:
    """Is `text` (a stage's error) already part of an error shown above?"""
    return isinstance(text, str) and bool(text.strip()) and any(text.strip() in s for s in shown)


def llm(detail: Detail, show_prompt: bool = False) -> RenderableType:
    """The LLM call(s) that made the program: model, tokens, cost; the prompt and response on demand."""
    if not detail.calls:
        return Text("no LLM call made this program (the starting program, or the offline mutator)", style="dim")
    parts: list[RenderableType] = []
    for c in detail.calls:
        parts.append(Text(
            f"{c.get('model')}  {c.get('outcome', '')}  tokens {c.get('prompt_tokens', 0)} in / "
            f"{c.get('completion_tokens', 0)} out  cost ${(c.get('cost_usd') or 0):.4f}  "
            f"latency {fmt(c.get('latency_s'))} s", style="bold"))
        if not show_prompt:
            parts.append(Text("press p to show the prompt and response", style="dim"))
            continue
        prompt = c.get("prompt") or c.get("messages")
        parts.append(Text("prompt:", style="bold") + Text("\n" + str(prompt)) if prompt else
                     Text(f"prompt text not stored (prompt hash {c.get('prompt_hash') or '-'})", style="dim"))
        if c.get("response"):
            parts.append(Text("response:", style="bold") + Text("\n" + str(c["response"])))
    return Group(*parts)
