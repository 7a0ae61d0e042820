"""The in-sandbox entry point: read the request, import the evaluator, call it, send the result.

Usage: python -S -s -P -m sandbox.runner [EVALUATOR [--prepare JSON]] [--request FILE [--result FILE]]
(default: the request is JSON on stdin; EVALUATOR is imported before the request is read,
so a warm sandbox can wait with it loaded; sandbox.zygote calls prepare() once and serve() in
each child it forks). --prepare: a JSON list of workloads handed, one by one, to the evaluator's
optional `prepare(workload)` before any candidate, so that what they cost to build (traces,
tables) is paid once per warm sandbox or fork server, not once per candidate.
request: {"nonce": "...", "evaluator": "evaluators.x" | "/abs/evaluate.py",
          "function": "evaluate" | "probe", "program": "candidate.py", "code": "...",
          "workload": {...}, "result": "fd" | "/path/to/result"}
The result goes to fd 3 (or the given path; docker's --result FILE stands for "fd"), first line
the nonce, then JSON. The nonce and the request never touch the file system, and the candidate
runs in a worker thread whose stack does not lead back to them; sandbox.guard reports tampering. Imports nothing from
`evolve` (only sandbox.guard, and evaluators.common to trim tracebacks to the candidate's frames):
it must start fast and trust nothing.
"""
from __future__ import annotations

import sys

from sandbox import guard as _guard

RESULT_FD = 3
PREPARE_FLAG = "--prepare"  # EVALUATOR --prepare JSON: the workloads to hand to the evaluator's prepare()


def main() -> int:
    return serve(prepare(sys.argv[1:]))


def prepare(args: list[str]) -> dict:
    """Everything before the request: the audit hook, the imports, the evaluator (a warm sandbox, or
    the fork server of sandbox.zygote, waits here). Touches nothing a candidate could leave behind."""
    import os

    trusted = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)
    guard = _guard.Guard(trusted)
    sys.addaudithook(guard.hook)  # before any other import: it cannot be removed
    # imported here, before the evaluator and any candidate (serve() uses them; random is seeded there)
    import importlib
    import importlib.util
    import json
    import random  # noqa: F401
    import resource  # noqa: F401
    import threading  # noqa: F401
    import time

    from evaluators.common import trim_traceback  # imported before the guard arms

    args = list(args)
    evaluator_ref = args.pop(0) if args and args[0] != "--request" else None
    workloads = []
    if args[:1] == [PREPARE_FLAG]:
        workloads = json.loads(args[1])
        del args[:2]
    evaluator, failed = None, None
    if evaluator_ref:  # imported while a warm sandbox waits for its request
        try:
            evaluator = _load_evaluator(evaluator_ref, importlib)
        except BaseException as exc:
            failed = exc
    _prepare_workloads(evaluator, workloads)
    if "numpy" in sys.modules:  # seeded for every candidate (numpy imports it on first use): import it now
        try:
            importlib.import_module("numpy.random")
        except ImportError:
            pass
    return {"guard": guard, "args": args, "evaluator_ref": evaluator_ref, "evaluator": evaluator,
            "failed": failed, "trim_traceback": trim_traceback,
            "perf": time.perf_counter}  # taken before any candidate code runs


def serve(state: dict) -> int:
    """Read the request (stdin, or docker's file), call the evaluator on the candidate, send the result; exits."""
    import importlib
    import json
    import os
    import _thread
    import resource

    guard, args, trim_traceback, perf = state["guard"], state["args"], state["trim_traceback"], state["perf"]
    evaluator_ref, evaluator, failed = state["evaluator_ref"], state["evaluator"], state["failed"]
    write, exit_now, dumps = os.write, os._exit, json.dumps
    streams = (sys.__stdout__, sys.__stderr__)  # the interpreter's own: a candidate may rebind sys.stdout
    if args[:1] == ["--request"]:  # docker: a private FIFO (or file), deleted before the candidate runs
        with open(args[1], "rb") as fh:
            request = json.loads(fh.read().decode("utf-8"))
        os.unlink(args[1])
    else:
        request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin.close()
    nonce = request.pop("nonce")
    if "code" in request:
        with open(request["program"], "w", encoding="utf-8") as fh:
            fh.write(request.pop("code"))
    target = request.get("result", "fd")
    if target == "fd" and "--result" in args:  # docker: no fd crosses into a container, the backend names a file
        target = args[args.index("--result") + 1]
    if target == "fd":
        out = RESULT_FD
    else:
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.set_inheritable(out, False)  # the candidate's subprocesses do not get the channel

    def send(payload: dict, code: int) -> None:
        try:
            data = dumps(payload, allow_nan=True, default=_jsonable)
        except (TypeError, ValueError) as exc:
            data, code = dumps({"error": f"the evaluator returned a value JSON cannot hold: {exc}"}), 1
        data = (nonce + "\n" + data).encode("utf-8")
        for stream in streams:  # what the candidate printed and left in the buffers: its output tail
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - a closed or broken stream: nothing to keep
                pass
        while data:
            data = data[write(out, data):]
        exit_now(code)  # no atexit handlers, no waiting for the candidate's threads

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    try:
        if failed is not None:
            raise failed
        if evaluator is None or request["evaluator"] != evaluator_ref:
            evaluator = _load_evaluator(request["evaluator"], importlib)
        fn = getattr(evaluator, request["function"])
    except BaseException as exc:
        send({"error": trim_traceback(exc), "cpu_s": cpu()}, 1)
    outcome: dict = {}
    program = os.path.abspath(request["program"])
    candidate = (program,)

    riding = request.get("probe")  # {"workload", "repeat"}: the functional-hash probe, before the stage

    def work() -> None:  # the candidate's frames lead back here, not to `nonce` or `out`
        if riding:
            start = perf()
            try:
                probe = getattr(evaluator, "probe")
                outcome["probe"] = [probe(program, riding["workload"]) for _ in range(int(riding["repeat"]))]
            except BaseException as exc:  # the probe failed: the candidate is unhashable, the stage still runs
                outcome["probe"] = {"__probe_error__": trim_traceback(exc, files=candidate)}
            outcome["probe_s"] = perf() - start
        try:
            repeat = int(request.get("repeat") or 0)  # probes: called twice to show they are deterministic
            workload = request.get("workload") or {}
            outcome["value"] = [fn(program, workload) for _ in range(repeat)] if repeat else fn(program, workload)
        except MemoryError:
            outcome["oom"] = True
        except BaseException as exc:  # the evaluator itself failed: report, never hang
            outcome["error"] = trim_traceback(exc, files=candidate)

    _seed_global_rngs()  # the same honest candidate gives the same result on every run
    done = _thread.allocate_lock()
    done.acquire()

    def worker() -> None:  # a bare thread: threading.Thread's objects and locks cost a child 0.3 ms of its CPU
        try:
            work()
        finally:
            done.release()

    _thread.stack_size(64 * 1024 * 1024)
    guard.arm()
    _thread.start_new_thread(worker, ())
    done.acquire()  # the evaluation is over
    tampered = guard.reasons()
    if tampered:
        send({"tampered": tampered, "cpu_s": cpu()}, 0)
    if outcome.get("oom"):
        send({"error": "MemoryError", "oom": True, "cpu_s": cpu()}, 3)
    if "error" in outcome:
        send({"error": outcome["error"], "cpu_s": cpu()}, 1)
    send({"value": outcome.get("value"), "cpu_s": cpu(), "probe": outcome.get("probe"),
          "probe_s": outcome.get("probe_s", 0.0)}, 0)
    return 0


def _prepare_workloads(evaluator, workloads: list) -> None:
    """The evaluator's `prepare(workload)` for each workload, if it has one (trusted code, before any
    candidate). A failure only loses the head start: the evaluator builds what it needs when called."""
    prepare = getattr(evaluator, "prepare", None)
    if not callable(prepare):
        return
    for workload in workloads:
        try:
            prepare(workload)
        except Exception:  # noqa: BLE001
            pass


def _load_evaluator(ref: str, importlib):
    if ref.endswith(".py"):
        spec = importlib.util.spec_from_file_location("problem_evaluator", ref)
        module = importlib.util.module_from_spec(spec)
        sys.modules["problem_evaluator"] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(ref)


def _seed_global_rngs() -> None:
    import random
    random.seed(0)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(0)


def _jsonable(value):
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


if __name__ == "__main__":
    sys.exit(main())
