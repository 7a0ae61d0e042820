"""The commands around a run, through the CLI, on a fixture database; `evolve init` + `evolve check` for real."""
from __future__ import annotations

import json
import sqlite3

import pytest

from evolve.cli import main
from tests.e2e.test_cli_runs import evolve
from tests.tui.fixture_db import make_run


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    make_run(tmp_path / "runs", "demo")
    make_run(tmp_path / "runs", "other")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_json_and_text(cwd, capsys):
    code, out, _ = run_cli(capsys, "status", "demo", "--json")
    facts = json.loads(out)
    assert code == 0 and facts["best"]["id"] == 6 and facts["initial_score"] == -7.0
    assert facts["failed_by_reason"] == {"timeout": 1} and facts["spend"]["fake/model-a"]["calls"] == 1
    code, out, _ = run_cli(capsys, "status", "demo")
    assert code == 0 and "starting program" in out and "best score over evaluations" in out


def test_show_diff_lineage_export(cwd, capsys):
    code, out, _ = run_cli(capsys, "show", "demo:4")
    assert code == 0 and "a = 6.0" in out and "fake/model-a" in out and "hello from the evaluator" in out
    code, out, _ = run_cli(capsys, "show", "4", "--run", "demo", "--json")
    data = json.loads(out)
    assert data["id"] == 4 and data["llm_calls"][0]["cost_usd"] == 0.0123 and data["evaluations"][0]["stage"] == "only"
    code, out, _ = run_cli(capsys, "diff", "demo:1", "other:6")
    assert code == 0 and "-    a = 1.0" in out and "+    a = 6.0" in out
    code, out, _ = run_cli(capsys, "lineage", "demo:4", "--json")
    assert json.loads(out) == {"program": 4, "ancestors": [1, 2], "children": [5, 6],
                               "descendants": {"4": [5, 6], "6": [7]}}
    code, out, _ = run_cli(capsys, "export", "demo:6", "-o", "best.py")
    exported = (cwd / "best.py").read_text()
    assert code == 0 and "a = 6.0" in exported and exported.startswith("# exported by `evolve export demo:6`")
    namespace: dict = {}
    exec(compile(exported, "best.py", "exec"), namespace)  # runnable as it is
    assert namespace["value"]() == 9.0
    code, _, err = run_cli(capsys, "export", "demo:6", "-o", "best.py")
    assert code == 2 and "--force" in err


def test_leaderboard_plain_json_and_sort(cwd, capsys):
    code, out, _ = run_cli(capsys, "leaderboard", "demo", "--json", "--sort", "size")
    ids = [p["id"] for p in json.loads(out)["programs"]]
    assert code == 0 and ids[:4] == [1, 4, 6, 2]
    code, out, _ = run_cli(capsys, "leaderboard", "demo", "--plain", "--status", "failed")
    assert code == 0 and "offline:swap" in out and "offline:crossover" not in out


def test_compare_and_report(cwd, capsys):
    code, out, _ = run_cli(capsys, "compare", "demo", "other", "--json")
    facts = json.loads(out)
    assert code == 0 and [f["run"] for f in facts] == ["demo", "other"] and facts[0]["best_score"] == -1.0
    assert facts[0]["best_at"]["100%"] == -1.0 and facts[0]["spent_usd"] == 0.0123
    code, out, _ = run_cli(capsys, "report", "demo", "-o", "rep")
    assert code == 0
    for png in ("scores.png", "pareto.png", "spend.png"):
        assert (cwd / "rep" / png).read_bytes()[:4] == b"\x89PNG"
    page = (cwd / "rep" / "index.html").read_text()
    assert 'src="scores.png"' in page and 'src="pareto.png"' in page and "Top programs" in page


@pytest.mark.parametrize("args, needle", [
    (("show", "demo:99"), "has no program 99"),
    (("show", "nope:1"), "no run named 'nope'"),
    (("show", "abc"), "is not a program id"),
    (("lineage", "demo:x1"), "is not a program id"),
    (("status", "nope"), "no run named 'nope'"),
    (("compare", "demo", "nope"), "no run named 'nope'"),
])
def test_bad_ids_get_one_clear_line(cwd, capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and needle in err and "Traceback" not in err + out


def test_newer_database_and_not_a_database(cwd, capsys):
    con = sqlite3.connect(cwd / "runs" / "demo" / "evolve.db")
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    code, _, err = run_cli(capsys, "show", "demo:1")
    assert code == 2 and "newer than this evolve" in err
    (cwd / "runs" / "junk").mkdir()
    (cwd / "runs" / "junk" / "evolve.db").write_text("not sqlite at all" * 100)
    code, out, err = run_cli(capsys, "status", "junk")
    assert code == 2 and "error" in err and "Traceback" not in err + out


def test_leaderboard_without_a_terminal_prints_the_table(cwd):
    done = evolve(cwd, "leaderboard", "demo", timeout=120)  # stdout is a pipe: no app
    assert done.returncode == 0, done.stderr
    assert "demo (tiny, finished)" in done.stdout and "offline:constant" in done.stdout


def test_init_then_check_scores_the_starting_program(tmp_path):
    done = evolve(tmp_path, "init", "knap")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "problems" / "knap"
    assert {p.name for p in folder.iterdir()} >= {"problem.yaml", "initial.py", "evaluate.py"}
    yaml_text = (folder / "problem.yaml").read_text()
    assert "# wall_time" in yaml_text and "EVOLVE-BLOCK-START" in (folder / "initial.py").read_text()
    check = evolve(tmp_path, "check", "problems/knap", timeout=180)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "the starting program scores" in check.stdout and "probe is deterministic" in check.stdout
    assert "ready" in check.stdout
    again = evolve(tmp_path, "init", "knap")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_check_reports_a_nondeterministic_probe(tmp_path):
    evolve(tmp_path, "init", "flaky")
    evaluate = tmp_path / "problems" / "flaky" / "evaluate.py"
    evaluate.write_text(evaluate.read_text() + "\n\nimport os\n\ndef probe(program_path, workload):\n"
                        "    return os.urandom(8).hex()\n")
    check = evolve(tmp_path, "check", "problems/flaky", timeout=180)
    assert check.returncode == 1 and "not deterministic" in check.stdout


def test_start_live_output_in_plain_mode(tmp_path):
    """A real (tiny) run through the CLI with stdout a pipe: plain lines, no escape codes."""
    from tests.conftest import write_problem

    write_problem(tmp_path / "tiny")
    done = evolve(tmp_path, "start", "tiny", "--iterations", "3", "--name", "t", timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "[1/3]" in done.stdout and "\x1b[" not in done.stdout
