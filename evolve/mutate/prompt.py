"""Build the chat messages of one LLM mutation from template files.

Templates are `string.Template` files ($name placeholders) in
evolve/mutate/templates/; a file of the same name in `<problem dir>/prompts/`
replaces the built-in one. The system message states the problem and the rule
of the blocks; the user message holds the parent (code, metrics, trimmed
evaluator feedback), inspirations, recent failures and the task with its
exact answer format.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

BUILTIN = Path(__file__).resolve().parent / "templates"
NAMES = ("system", "parent", "inspiration", "failures", "diff", "rewrite", "crossover", "retry")
_DUMMY = dict(description="d", objectives="o", score="1", code="c", metrics="m", feedback="f", id="1",
              generation="0", failures="x", error="e")


class TemplateError(ValueError):
    """A prompt template file is unreadable or uses an unknown $placeholder."""


def load_templates(problem_root: Path | None = None) -> dict[str, Template]:
    """The templates, with `<problem_root>/prompts/<name>.txt` overriding the built-in ones."""
    out = {}
    for name in NAMES:
        path = BUILTIN / f"{name}.txt"
        if problem_root is not None and (problem_root / "prompts" / f"{name}.txt").is_file():
            path = problem_root / "prompts" / f"{name}.txt"
        template = Template(path.read_text(encoding="utf-8"))
        try:
            template.substitute(_DUMMY)
        except (KeyError, ValueError) as exc:
            raise TemplateError(f"{path}: unknown or malformed placeholder {exc}; the placeholders are "
                                f"{', '.join('$' + k for k in sorted(_DUMMY))} (write $$ for a dollar sign)") from None
        out[name] = template
    return out


def trim(text: str, limit: int) -> str:
    """At most `limit` characters: the head and the tail, with a note of what was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = max(limit // 2 - 20, 1)
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters cut] ...\n{text[-half:]}"


def format_metrics(metrics: dict, limit: int = 1500) -> str:
    if not metrics:
        return "(none)"
    parts = [f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())]
    return trim(", ".join(parts), limit)


def _score(score: float | None) -> str:
    return "not scored" if score is None else f"{score:.6g}"


class PromptBuilder:
    """Messages for a mutation kind (diff | rewrite | crossover) of a parent."""

    def __init__(self, description: str, objectives: list, templates: dict[str, Template],
                 feedback_chars: int = 3000):
        self.t = templates
        self.feedback_chars = feedback_chars
        objs = ", ".join(f"{o.name} ({o.direction}{'' if o.weight == 1 else f', weight {o.weight:g}'})"
                         for o in objectives)
        self.system = self.t["system"].substitute(description=description.strip(), objectives=objs)

    def build(self, kind: str, parent, inspirations: list, failures: list[str], partner=None) -> list[dict]:
        ctx = dict(_DUMMY, score=_score(parent.score), code=parent.code.rstrip("\n"), id=parent.id,
                   metrics=format_metrics(parent.metrics), generation=parent.generation,
                   feedback=trim(parent.feedback or "(none)", self.feedback_chars))
        parts = [self.t["parent"].substitute(ctx)]
        if inspirations:
            shown = [self.t["inspiration"].substitute(
                id=p.id, score=_score(p.score), generation=p.generation, code=p.code.rstrip("\n"),
                metrics=format_metrics(p.metrics, 500)) for p in inspirations]
            parts.append("# Other programs for inspiration\n\n" + "\n".join(shown))
        if failures:
            listed = "\n".join(f"- {trim(f, 400)}" for f in failures)
            parts.append(self.t["failures"].substitute(failures=listed))
        if kind == "crossover" and partner is not None:
            parts.append(self.t["crossover"].substitute(
                score=_score(partner.score), code=partner.code.rstrip("\n"),
                metrics=format_metrics(partner.metrics, 500)))
        else:
            parts.append(self.t[kind].substitute(ctx))
        return [{"role": "system", "content": self.system}, {"role": "user", "content": "\n\n".join(parts)}]

    def retry(self, messages: list[dict], answer: str, error: str) -> list[dict]:
        """The conversation continued: the model's answer, then why it did not apply."""
        return [*messages, {"role": "assistant", "content": answer},
                {"role": "user", "content": self.t["retry"].substitute(error=error)}]
