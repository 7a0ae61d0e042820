"""`evolve bench`: run a suite (`evolve bench SUITE.yaml`), continue it (`--resume NAME`), report it
(`evolve bench report NAME`). Thin: parse, call evolve.bench, print."""
from __future__ import annotations

import json
import re
from pathlib import Path

from evolve.argtypes import positive_int, run_name

HELP = "run a suite of problems x arms x seeds, resume it (--resume NAME) or tabulate it (report NAME)"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def register(add) -> None:
    """Add `bench` through the commands' `add(name, handler, help)`."""
    p = add("bench", cmd_bench, HELP)
    p.add_argument("suite", nargs="?", metavar="SUITE.yaml|report",
                   help="a suite file to run; or `report` followed by the bench's name")
    p.add_argument("bench", nargs="?", metavar="NAME", help="after `report`: the bench to tabulate")
    p.add_argument("--name", type=run_name, help="bench name (default: the suite's `name`, else the file's stem); "
                   "runs are named NAME.PROBLEM.ARM.sSEED")
    p.add_argument("--parallel", type=positive_int, default=1, help="runs at a time, each its own process (default 1)")
    p.add_argument("--resume", metavar="NAME", help="continue bench NAME: start what is missing, resume what "
                   "stopped, skip what finished")
    p.add_argument("--json", action="store_true", help="report: print JSON instead of Markdown")
    p.add_argument("-o", "--output", metavar="DIR", help="report: write report.md, report.json, report.html and "
                   "the plots into DIR")


def cmd_bench(args, console) -> int:
    from evolve.runs import RunError

    if args.suite == "report":
        if not args.bench:
            raise RunError("`evolve bench report` needs the bench's name, e.g. `evolve bench report smoke`.")
        return cmd_report(args, console)
    if args.json or args.output:
        raise RunError("--json and -o belong to `evolve bench report NAME`; run the suite first, then report it.")
    if args.bench:
        raise RunError(f"unexpected argument '{args.bench}': give a suite file (`evolve bench SUITE.yaml`), "
                       "`--resume NAME`, or `report NAME`.")
    return _run(args, console)


def _run(args, console) -> int:
    from evolve.bench import manifest
    from evolve.bench.execute import Executor
    from evolve.bench.progress import View
    from evolve.bench.suite import load_suite
    from evolve.runs import RunError

    if args.resume and args.suite:
        raise RunError(f"give either a suite file or --resume NAME, not both (--resume {args.resume} runs the "
                       "suite the bench was started with).")
    if args.resume:
        bench = manifest.load(args.runs_dir, args.resume)
    elif args.suite:
        suite = load_suite(args.suite)
        name = args.name or suite.spec.name or Path(args.suite).stem
        if not NAME.fullmatch(name):
            raise RunError(f"'{name}' (from the suite file's name) is not a usable bench name; give --name with "
                           "letters, digits, '.', '_' and '-'.")
        bench = manifest.create(suite, name, args.runs_dir, args.db)
    else:
        raise RunError("give a suite file (`evolve bench suites/smoke.yaml`), `--resume NAME` or `report NAME`.")
    console.print(f"bench {bench.name}: {len(bench.problems())} problem(s) x {len(bench.arms())} arm(s) x "
                  f"{len(bench.seeds())} seed(s) = {len(bench.runs)} runs, {args.parallel} at a time; runs in "
                  f"{_where(bench)}, logs in {bench.logs}/", markup=False, highlight=False)
    code = Executor(bench, args.parallel, View(bench.name, console)).run()
    if code != 130:
        console.print(f"table: `evolve bench report {bench.name}` (-o DIR for Markdown, HTML, JSON and plots)",
                      markup=False, highlight=False)
    return code


def _where(bench) -> str:
    from evolve.db.engine import redact

    return redact(bench.db_url)


def cmd_report(args, console) -> int:
    from evolve.bench import manifest, plots, render
    from evolve.bench.results import collect
    from evolve.bench.table import build

    bench = manifest.load(args.runs_dir, args.bench)
    results = collect(bench)
    table = build(bench, results)
    made: dict = {}
    note = None
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        note = plots.available()
        if note is None:
            for problem in bench.problems():
                by_arm = {c.arm: c.finished for c in table.cells if c.problem == problem and c.finished}
                if by_arm:
                    made[problem] = plots.draw(problem, by_arm, out)
    data = render.to_json(bench, table, results, made, note)
    text = render.markdown(bench, table, made, note)
    if args.output:
        (out / "report.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        (out / "report.md").write_text(text, encoding="utf-8")
        (out / "report.html").write_text(render.to_html(bench, table, made, note), encoding="utf-8")
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    elif args.output:
        drawn = f", {sum(len(m) for m in made.values())} plot(s)" if made else \
            f" (no plots: {note or 'no finished runs'})"
        console.print(f"report of bench {bench.name} written to {out}/: report.md, report.html, report.json{drawn}",
                      markup=False, highlight=False)
    else:
        print(text, end="")
    return 0
