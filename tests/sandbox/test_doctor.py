"""`evolve doctor` probes the protections for real; with bwrap every one of them holds."""
import io
import os

import pytest
from rich.console import Console

import sandbox
from evolve.commands import doctor
from evolve.cli import main
from sandbox import landlock
from sandbox.process import ProcessBackend

PROTECTIONS = {"network off", "memory cap", "CPU cap", "pids cap", "read-only system", "secrets hidden",
               "held-out data hidden", "host files protected from root", "GPU visibility"}


@pytest.mark.skipif(bool(sandbox.why_unavailable("bwrap")), reason=f"bwrap: {sandbox.why_unavailable('bwrap')}")
def test_every_protection_holds_under_bwrap():
    note, checks = doctor.diagnose("bwrap")
    assert "bwrap" in note
    assert {c.protection for c in checks} == PROTECTIONS
    assert [c for c in checks if c.holds is False] == []


@pytest.mark.skipif(not landlock.abi(), reason=landlock.why_unavailable() or "-")
def test_process_backend_hides_held_out_data_and_host_files_with_landlock():
    backend = ProcessBackend(allow_root=True)  # as root: dropped where it can, else root under Landlock
    for check in (doctor.check_holdout, doctor.check_host_files):
        result = check(backend)
        assert result.holds is True, result


def test_doctor_says_what_the_process_backend_cannot_do_without_landlock(monkeypatch):
    monkeypatch.setattr(landlock, "abi", lambda: 0)
    backend = ProcessBackend(allow_root=True)
    held = doctor.check_holdout(backend)
    assert held.holds is False and "problem.yaml" in held.detail
    host = doctor.check_host_files(backend)  # file modes protect only when root dropped to uid 65534
    assert host.holds is (backend.user is not None), host
    if os.geteuid() == 0 and backend.user is None:
        assert "/etc/shadow" in host.detail


def test_doctor_reports_a_protection_that_fails(monkeypatch):
    monkeypatch.setattr(doctor, "CHECKS", (lambda b: doctor.Check("network off", False, "reached"),))
    out = io.StringIO()
    rc = doctor.cmd_doctor(type("A", (), {"backend": "process", "allow_root": True})(), Console(file=out, width=200))
    assert rc == 1 and "NO" in out.getvalue() and "sandbox backend" in out.getvalue()


def test_cli_knows_doctor_and_sandbox_build(capsys):
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    assert "build" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    assert "--allow-root" in capsys.readouterr().out
