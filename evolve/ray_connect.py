"""Joining a Ray cluster once per process, with errors that say what is wrong and how to fix it.

`ray.init(address=HOST:PORT)` retries for about 20 s whatever is wrong, printing a warning per try,
and then suggests `ray start --head` even when the head is running but wants a token. So before it,
the address is checked (`check`, about a second): a TCP connect (nothing listens there:
unreachable), then one call to the cluster's GCS with Ray's own client (`ray._raylet.GcsClient`,
the one `ray.init` uses), made in a child process so that its C++ warnings, its retries against
something that is not a GCS, and the auth mode it reads stay out of this one. Ray 2.52+ has token
authentication, and since 2.59 `ray start --head` turns it on whenever a token exists
(`~/.ray/auth_token`, which any local `ray.init()` writes); a client that joins by explicit
address sends a token only with RAY_AUTH_MODE=token. A refused call is reported as an
authentication failure that names the fix. No gRPC package is needed (Ray ships its client).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

WHERE = "--ray-address or executor.ray.address in the problem YAML"
TOKEN_FIX = ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the cluster's token (`ray get-auth-token` on the "
             "head node prints it; a file holding it works too: RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)")
HEAD_HINT = ("Start a head there with `ray start --head --port PORT` (the GCS port, 6379 by default; it prints "
             "the address to give)")
TCP_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 5.0  # one GCS call (milliseconds when a GCS answers; Ray's client waits 40 s on anything else)
IMPORT_TIMEOUT_S = 60.0  # the probe child's import of Ray (about 0.5 s), on a loaded machine

_started_here = False  # this process started the cluster it is connected to (ray.init without an address)


class ConnectError(Exception):
    """The cluster cannot be joined; the message says why and what to do."""


def connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` (None, '' or 'local': start one here), once per process; True when
    the cluster was started by this process. A process connected already keeps its connection
    (start, then resume; the check before the run row, then the executor)."""
    global _started_here
    if ray.is_initialized():
        return _started_here
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    local = address in (None, "", "local")
    if not local:
        check(address)
    # Ray Client (ray://) takes fewer options: the dashboard and logging belong to the cluster there
    options = {} if (address or "").startswith("ray://") else dict(include_dashboard=False, configure_logging=False)
    ray_logger = logging.getLogger("ray")
    level = ray_logger.level
    ray_logger.setLevel(logging.ERROR)  # "Connecting to existing Ray cluster...", auth-mode notes: not for the terminal
    try:
        ray.init(address=None if local else address, log_to_driver=False, **options)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, AuthenticationError
        raise _init_error(address, exc) from None
    finally:
        ray_logger.setLevel(level)
    _started_here = local
    return local


def _init_error(address: str | None, exc: Exception) -> ConnectError:
    """What ray.init's failure means, in one paragraph (its own text can run to many lines)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"the Ray cluster at '{address}' ({WHERE})" if address not in (None, "", "local") else \
        "a local Ray cluster (no --ray-address or executor.ray.address given)"
    if "auth" in first.lower() or type(exc).__name__ == "AuthenticationError":
        return ConnectError(f"{where} refused this process's authentication ({first[:300]}). To join it, "
                            f"{TOKEN_FIX}.")
    if address in (None, "", "local"):
        return ConnectError(f"cannot start {where}: {first[:300]}. Check `ray status` and the logs under "
                            "/tmp/ray/session_latest/logs, or give the address of a running cluster.")
    return ConnectError(f"cannot join {where}: {first[:300]}. {HEAD_HINT}, fix the address (auto, host:port or "
                        "ray://host:port), or leave it out to start a local cluster.")


def check(address: str, tcp_timeout_s: float = TCP_TIMEOUT_S, probe_timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail in about a second, not after Ray's 20 s of retries: not an address, nothing listens, not a
    Ray GCS, or the cluster wants a token this process does not send (or sends wrong)."""
    client = address.startswith("ray://")
    if client:
        _check_ray_client(address)
    if address == "auto":
        target = _auto_address()
        if target is None:
            raise ConnectError(f"no running Ray cluster found on this machine for address 'auto' ({WHERE}): "
                               "RAY_ADDRESS is unset and `ray start --head` has not been run here. Start one "
                               "with `ray start --head`, give a cluster's host:port, or leave the address "
                               "out to start a local cluster.")
    else:
        target = address.removeprefix("ray://").rstrip("/")
    host, port = _split(address, target)
    _check_tcp(address, host, port, tcp_timeout_s)
    if client:
        return  # Ray Client's server is not the GCS; it reports its own errors
    token_mode, source = _token_source(address == "auto")
    if token_mode and not source:  # Ray's client would abort on it (a failed C++ check), ray.init refuse it
        raise ConnectError(_auth_message(address, {"token_mode": True}, ""))
    verdict = _probe(f"{host}:{port}", token_mode, probe_timeout_s)
    kind = verdict.get("kind")
    if kind == "ok" or kind == "skip":
        return
    detail = verdict.get("detail", "")
    if kind == "auth":
        raise ConnectError(_auth_message(address, verdict, detail))
    if kind == "timeout":
        raise ConnectError(f"cannot join the Ray cluster at '{address}' ({WHERE}): something listens at "
                           f"{host}:{port} but does not answer as a Ray cluster's GCS (no answer in "
                           f"{probe_timeout_s:g} s). Give the head's GCS address, the one "
                           "`ray start --head` prints (port 6379 by default), not the dashboard's (8265); "
                           "for a Ray Client server (port 10001) write ray://host:10001.")
    raise ConnectError(f"the Ray cluster at '{address}' ({WHERE}) does not answer as a Ray GCS: {detail[:300]}. "
                       f"{HEAD_HINT}, or fix the address.")


def _auth_message(address: str, verdict: dict, detail: str) -> str:
    head = f"cannot join the Ray cluster at '{address}' ({WHERE})"
    if not verdict.get("token_mode"):
        return (f"{head}: authentication failed: the cluster uses token authentication and this process sends "
                f"no token (RAY_AUTH_MODE is {os.environ.get('RAY_AUTH_MODE') or 'unset'}). To join it, "
                f"{TOKEN_FIX}; or start the head with token authentication off "
                "(`RAY_AUTH_MODE=disabled ray start --head`), on a trusted network only.")
    source = verdict.get("source")
    if not source:
        return (f"{head}: RAY_AUTH_MODE=token but no token was found (RAY_AUTH_TOKEN is unset, and there is no "
                "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token file). Set RAY_AUTH_TOKEN to the cluster's token "
                "(`ray get-auth-token` on the head node prints it).")
    return (f"{head}: authentication failed: the cluster refused the token from {source} ({detail[:200]}); "
            "it is not the cluster's. Set RAY_AUTH_TOKEN to the token `ray get-auth-token` prints on the "
            "head node.")


def _check_ray_client(address: str) -> None:
    import importlib.util
    if importlib.util.find_spec("grpc") is None:
        raise ConnectError(f"'{address}' ({WHERE}) is a Ray Client address, and Ray Client needs "
                           "`pip install 'ray[client]'` (not part of evolve's ray extra). Install it, or give "
                           "the head's GCS address as host:port instead (6379 by default, the one "
                           "`ray start --head` prints), which needs nothing more.")


def _split(address: str, target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConnectError(f"'{address}' ({WHERE}) is not a Ray address: write auto, host:port (e.g. "
                           "10.0.0.5:6379) or ray://host:port.")
    return host, int(port)


def _check_tcp(address: str, host: str, port: int, timeout_s: float) -> None:
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except socket.gaierror as exc:
        raise ConnectError(f"cannot reach the Ray cluster at '{address}' ({WHERE}): the host name '{host}' "
                           f"does not resolve ({exc.strerror or exc}). Fix the address, or leave it out to "
                           "start a local cluster.") from None
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
        raise ConnectError(f"cannot reach the Ray cluster at '{address}' ({WHERE}): nothing listens at "
                           f"{host}:{port} (tried a TCP connection for up to {timeout_s:g} s: {why}). "
                           f"{HEAD_HINT.replace('PORT', str(port))}, fix the address, or leave it out to "
                           "start a local cluster on this machine.") from None


def _auto_address() -> str | None:
    """The cluster 'auto' means, as ray.init finds it (RAY_ADDRESS, then the one `ray start` ran here)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
        return canonicalize_bootstrap_address("auto")
    except ConnectionError:
        return None
    except Exception:  # noqa: BLE001 - an older or newer Ray: let ray.init find it
        return os.environ.get("RAY_ADDRESS") or None


def _token_source(auto: bool) -> tuple[bool, str | None]:
    """Whether this process will send a token (RAY_AUTH_MODE=token, or 'auto' with a token at hand, as
    ray.init does), and where the token comes from (never the token itself)."""
    mode = os.environ.get("RAY_AUTH_MODE")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    default = Path.home() / ".ray" / "auth_token"
    source = ("RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN", "").strip() else
              f"RAY_AUTH_TOKEN_PATH ({path})" if path and Path(path).is_file() else
              str(default) if not path and default.is_file() else None)
    token_mode = mode.lower() == "token" if mode is not None else bool(auto and source)
    return token_mode, source


_PROBE = r"""
import json, os, sys, threading
def out(**kw):
    print(json.dumps(kw), flush=True)
    os._exit(0)  # also when the call below is still waiting on something that is not a GCS
try:
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError
except Exception as exc:
    out(kind="skip", detail=repr(exc))
def call():
    try:
        GcsClient(address=sys.argv[1])
    except AuthenticationError as exc:
        out(kind="auth", detail=str(getattr(exc, "message", exc)))
    except TypeError as exc:  # another Ray's constructor
        out(kind="skip", detail=repr(exc))
    except Exception as exc:
        out(kind="error", detail=f"{type(exc).__name__}: {exc}")
    out(kind="ok")
threading.Thread(target=call, daemon=True).start()
threading.Event().wait(float(sys.argv[2]))
out(kind="timeout")
"""


def _probe(hostport: str, token_mode: bool, timeout_s: float) -> dict:
    """One call to the GCS at hostport, in a child process with this process's auth settings."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_BACKEND_LOG_LEVEL": "error"}
    if token_mode:
        env["RAY_AUTH_MODE"] = "token"
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, hostport, str(timeout_s)], env=env, text=True,
                              capture_output=True, timeout=timeout_s + IMPORT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:  # Ray's import alone took that long: let ray.init decide
        return {"kind": "skip"}
    except OSError as exc:
        return {"kind": "skip", "detail": str(exc)}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"kind": "skip", "detail": (done.stderr or done.stdout)[-300:]}  # ray.init will decide
    return {**verdict, "token_mode": token_mode, "source": _token_source(False)[1]}
