"""Turn what was observed of a run (launch.Raw) into a RunResult with one status."""
from __future__ import annotations

import json
import signal

from sandbox.launch import Raw
from sandbox.spec import (
    ERROR, INVALID_RESULT, KILLED, OK, OOM, OUTPUT_CAP, TIMEOUT, RunResult, RunSpec,
)

_SIGXCPU = int(signal.SIGXCPU)


def _signal_of(rc: int | None) -> int | None:
    """The signal that ended the run: a negative rc, or 128+N as bwrap and shells report it."""
    if rc is None:
        return None
    if rc < 0:
        return -rc
    if 128 < rc < 128 + 65:
        return rc - 128
    return None


def parse_result(data: bytes, nonce: str) -> tuple[dict | None, str]:
    """(payload, problem): the runner's payload, if its first line carries this run's nonce."""
    if not data:
        return None, "the run sent no result (it exited before the evaluator returned)"
    head, _, body = bytes(data).partition(b"\n")
    if not nonce or head.decode("ascii", "replace") != nonce:
        return None, "the result channel did not carry this run's nonce: result forged or garbled"
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"the result is not valid JSON: {exc}"
    if not isinstance(payload, dict) or not {"value", "error", "tampered"} & payload.keys():
        return None, "the result holds neither a 'value' nor an 'error'"
    return payload, ""


def classify(raw: Raw, spec: RunSpec, backend: str) -> RunResult:
    res = RunResult(status=OK, returncode=raw.returncode, stdout=raw.stdout.text(),
                    stderr=raw.stderr.text(), wall_s=raw.wall_s, cpu_s=raw.cpu_s, backend=backend)
    payload, problem = parse_result(raw.result, spec.nonce)
    if payload is not None:
        res.cpu_s = max(res.cpu_s, float(payload.get("cpu_s", 0.0) or 0.0))
    sig = _signal_of(raw.returncode)
    oom_flag = isinstance(payload, dict) and payload.get("oom")
    if raw.timed_out:
        res.status, res.error = TIMEOUT, f"wall-clock limit of {spec.wall_s:g} s reached; every process of the run was killed"
    elif raw.capped:
        res.status, res.error = OUTPUT_CAP, f"output passed {spec.output_bytes} bytes; every process of the run was killed"
    elif raw.result_too_big:
        res.status, res.error = INVALID_RESULT, "the result passed 64 MiB; the run was killed"
    elif sig == _SIGXCPU or (sig == signal.SIGKILL and res.cpu_s >= spec.cpu_s):
        res.status, res.error = TIMEOUT, f"CPU limit of {spec.cpu_s:g} s reached"
    elif raw.oom_killed or oom_flag or "MemoryError" in res.stderr[-2000:]:
        res.status, res.error = OOM, f"memory limit of {spec.memory_mb} MB reached"
    elif sig is not None:
        res.status, res.error = KILLED, f"killed by signal {_name(sig)}"
    elif isinstance(payload, dict) and payload.get("tampered"):
        res.status = INVALID_RESULT
        res.error = "the candidate tampered with its evaluation: " + "; ".join(payload["tampered"])
    elif isinstance(payload, dict) and "error" in payload:
        res.status, res.error = ERROR, str(payload["error"])
    elif problem and raw.returncode not in (0, None):
        res.status = ERROR
        res.error = f"exit code {raw.returncode}: {res.stderr.strip()[-2000:] or 'no output'}"
    elif problem:
        res.status, res.error = INVALID_RESULT, problem
    else:
        res.result = payload.get("value")
        res.probe, res.probe_s = payload.get("probe"), float(payload.get("probe_s") or 0.0)
    return res


def _name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
