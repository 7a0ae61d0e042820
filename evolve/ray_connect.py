"""Joining a Ray cluster once per process, with errors that say what is wrong and how to fix it.

Before `ray.init(address=HOST:PORT)` (which retries for about 20 s and then blames the address),
the address is checked in well under a second: a TCP connect (nothing listens: unreachable), then
one unauthenticated gRPC call to the cluster's GCS. Ray 2.52+ has token authentication, and since
2.59 `ray start --head` turns it on whenever a token exists (`~/.ray/auth_token`, which any local
`ray.init()` writes); a client joining by explicit address sends its token only with
RAY_AUTH_MODE=token. A refused call is reported as an authentication failure that names the fix.
"""
from __future__ import annotations

import os
import socket

AUTH_FIX = ("set RAY_AUTH_MODE=token and give the cluster's token in RAY_AUTH_TOKEN (or a file named by "
            "RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token; `ray get-auth-token` on the head node prints it)")
WHERE = "executor.ray.address in the problem YAML or --ray-address"
PROBE_METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"


class ConnectError(Exception):
    """The cluster cannot be joined; the message says why and what to do."""


def connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` (None: start a local one), once per process; True when this
    call started it. A process that is connected already keeps its connection (start, then resume)."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address not in (None, "", "auto", "local"):
        check(address)
    # Ray Client (ray://) takes fewer options: the dashboard and logging belong to the cluster there
    local = {} if (address or "").startswith("ray://") else dict(include_dashboard=False, configure_logging=False)
    try:
        ray.init(address=address or None, log_to_driver=False, **local)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, AuthenticationError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "auth" in first.lower() or type(exc).__name__ == "AuthenticationError":
            raise ConnectError(f"the Ray cluster at '{address}' ({WHERE}) refused this process's "
                               f"authentication: {first}. To join it, {AUTH_FIX}.") from None
        raise ConnectError(f"cannot join the Ray cluster at '{address}' ({WHERE}): {first}. Start one with "
                           "`ray start --head`, give its address (auto, host:port or ray://host:port), or "
                           "leave the address out to start a local cluster.") from None
    return not address


def check(address: str, timeout_s: float = 3.0) -> None:
    """Fail in about a second, not after Ray's 20 s of retries: nothing listens, or the cluster
    wants a token this process does not send (or sends wrong)."""
    hostport = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectError(f"'{address}' ({WHERE}) is not a Ray address: write auto, host:port or ray://host:port.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectError(f"cannot reach the Ray cluster at '{address}' ({WHERE}): nothing answers there "
                           f"({exc.strerror or exc}). Start it with `ray start --head`, fix the address, or "
                           "leave it out to start a local cluster.") from None
    if address.startswith("ray://"):
        return  # Ray Client's server is not the GCS; it reports its own errors
    refused = _gcs_refuses(host, int(port), timeout_s)
    if refused is None:
        return
    mode = os.environ.get("RAY_AUTH_MODE", "").strip().lower()
    if mode == "token":
        raise ConnectError(f"the Ray cluster at '{address}' ({WHERE}) refused this process's token "
                           f"({refused}): the token found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
                           "~/.ray/auth_token) is not the cluster's. Give the one `ray get-auth-token` prints "
                           "on the head node in RAY_AUTH_TOKEN.")
    raise ConnectError(f"the Ray cluster at '{address}' ({WHERE}) uses token authentication and this process "
                       f"sends no token ({refused}). To join it, {AUTH_FIX}; or start the head with "
                       "RAY_AUTH_MODE=disabled on a trusted network.")


def _gcs_refuses(host: str, port: int, timeout_s: float) -> str | None:
    """The GCS's words when it refuses an (un)authenticated call; None when it answers, or when the
    check cannot be made (no grpc, not a GCS): then Ray's own connect decides."""
    try:
        import grpc
    except ImportError:
        return None
    metadata = _token_metadata()
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        call = channel.unary_unary(PROBE_METHOD, request_serializer=None, response_deserializer=None)
        try:
            call(b"", timeout=timeout_s, metadata=metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                return exc.details() or "UNAUTHENTICATED"
    return None


def _token_metadata() -> tuple:
    """The token Ray would send (RAY_AUTH_MODE=token), as gRPC metadata; () without one."""
    if os.environ.get("RAY_AUTH_MODE", "").strip().lower() != "token":
        return ()
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if not token:
        try:
            with open(path) as fh:
                token = fh.read().strip()
        except OSError:
            return ()
    return (("authorization", f"Bearer {token}"),) if token else ()
