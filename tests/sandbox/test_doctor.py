"""`evolve doctor` probes the protections for real; with bwrap every one of them holds."""
import io

import pytest
from rich.console import Console

import sandbox
from evolve.commands import doctor
from evolve.cli import main


@pytest.mark.skipif(bool(sandbox.why_unavailable("bwrap")), reason=f"bwrap: {sandbox.why_unavailable('bwrap')}")
def test_every_protection_holds_under_bwrap():
    note, checks = doctor.diagnose("bwrap")
    assert "bwrap" in note
    assert {c.protection for c in checks} == {"network off", "memory cap", "CPU cap", "pids cap",
                                              "read-only system", "secrets hidden", "GPU visibility"}
    assert [c for c in checks if c.holds is False] == []


def test_doctor_reports_a_protection_that_fails(monkeypatch):
    monkeypatch.setattr(doctor, "CHECKS", (lambda b: doctor.Check("network off", False, "reached"),))
    out = io.StringIO()
    rc = doctor.cmd_doctor(type("A", (), {"backend": "process"})(), Console(file=out, width=200))
    assert rc == 1 and "NO" in out.getvalue() and "sandbox backend" in out.getvalue()


def test_cli_knows_doctor_and_sandbox_build(capsys):
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    assert "build" in capsys.readouterr().out
