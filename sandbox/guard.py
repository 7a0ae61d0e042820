"""Tripwires inside the sandbox: what the candidate must not do to the code that scores it.

The candidate runs in the evaluator's process, so the runner (1) installs an audit hook
before anything else is imported -- Python offers no way to remove one -- and (2) snapshots
the modules the evaluator relies on before the candidate is imported. After the evaluation
it reports, as reasons, any watched event the candidate caused and any module attribute,
class attribute or function code object that changed. A non-empty list fails the run
(`invalid_result`) whatever the evaluator returned.

Watched events (while the evaluation runs): reading the heap (gc.get_objects/referrers/
referents), other threads' frames (sys._current_frames), raw memory (ctypes string_at,
from_address, /proc/*/mem), and frame access (sys._getframe, tb_frame, gi_frame, ...) from
code that is not trusted library code -- frames lead to the evaluator's locals, the hidden
workload and the result channel.
"""
from __future__ import annotations

import sys
import types

WATCHED_MODULES = ("evaluators", "sandbox", "problem_evaluator", "numpy", "time", "builtins",
                   "json", "math", "random", "statistics", "heapq", "functools", "itertools",
                   "operator", "collections", "copy", "os", "importlib")
_HEAP = {"gc.get_objects": "read the heap (gc.get_objects)",
         "gc.get_referrers": "read the heap (gc.get_referrers)",
         "gc.get_referents": "read the heap (gc.get_referents)",
         "sys._current_frames": "read other threads' frames (sys._current_frames)",
         "ctypes.string_at": "read raw memory (ctypes.string_at)",
         "ctypes.wstring_at": "read raw memory (ctypes.wstring_at)",
         "ctypes.cdata": "read raw memory (ctypes from_address)"}
_FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"}
_HELPERS = ("/inspect.py", "/traceback.py")  # stdlib modules that may hand frames to their caller
_FRAME_RETURNING = {"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "walk_stack", "walk_tb"}
_IGNORED_KEYS = {"__warningregistry__", "__loader__", "__spec__", "__cached__"}


class Guard:
    """One evaluation's tripwires: `arm()` before the candidate, `reasons()` after."""

    def __init__(self, trusted_roots: tuple[str, ...]):
        self.trusted = tuple(trusted_roots) + tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
        self.active = False
        self.events: list[str] = []
        self.snapshot: list[tuple] = []
        self._busy = False

    # --- audit hook ---------------------------------------------------------------
    def hook(self, event: str, args: tuple) -> None:
        if not self.active or self._busy:
            return
        try:
            self._check(event, args)
        except Exception:  # a tripwire must never break the evaluation it watches
            pass

    def _check(self, event: str, args: tuple) -> None:
        if event in _HEAP:
            self._flag(_HEAP[event])
        elif event == "open" and isinstance(args[0], str) and args[0].endswith("/mem") and args[0].startswith("/proc/"):
            self._flag(f"opened {args[0]}")
        elif event == "sys._getframe" or (event == "object.__getattr__" and args[1] in _FRAME_ATTRS):
            self._busy = True
            try:
                caller = self._caller()
                if caller is not None:
                    what = args[1] if event == "object.__getattr__" else event
                    self._flag(f"inspected the call stack ({what} from {caller})")
            finally:
                self._busy = False

    def _caller(self) -> str | None:
        """The untrusted file that obtained a frame object, or None when trusted code did.

        Frames reached through the stdlib helpers count only for the helpers that hand
        frames back (inspect.stack, traceback.walk_stack, ...), not for those that return
        text (traceback.format_exc).
        """
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename == __file__:
            frame = frame.f_back
        hands_frames = False
        while frame is not None and frame.f_code.co_filename.endswith(_HELPERS):
            hands_frames = hands_frames or frame.f_code.co_name in _FRAME_RETURNING
            frame = frame.f_back
            if not hands_frames and frame is not None and not frame.f_code.co_filename.endswith(_HELPERS):
                return None  # a text-returning helper: no frame reaches its caller
        if frame is None:
            return None
        name = frame.f_code.co_filename
        if name.startswith("<frozen ") or (name.startswith(self.trusted) and name.endswith(".py")):
            return None
        return name

    def _flag(self, reason: str) -> None:
        if reason not in self.events and len(self.events) < 20:
            self.events.append(f"the candidate tried to {reason}" if not reason.startswith("inspected")
                               else f"the candidate {reason}")

    # --- module snapshot ----------------------------------------------------------
    def arm(self) -> None:
        """Snapshot the watched modules, then start flagging events."""
        snap = []
        for name, module in list(sys.modules.items()):
            if module is None or not name.split(".")[0] in WATCHED_MODULES:
                continue
            snap.append((name, module, dict(module.__dict__)))
            for key, value in module.__dict__.items():
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    snap.append((f"{name}.{key}", value, dict(value.__dict__)))
                elif isinstance(value, types.FunctionType) and value.__module__ == name:
                    snap.append((f"{name}.{key}", value, {"__code__": value.__code__,
                                                         "__defaults__": value.__defaults__,
                                                         "__kwdefaults__": value.__kwdefaults__}))
        self.snapshot = snap
        self.active = True

    def reasons(self) -> list[str]:
        """Stop flagging; what the candidate did that it must not (empty when clean)."""
        self.active = False
        found = list(self.events)
        for name, obj, before in self.snapshot:
            if isinstance(obj, types.ModuleType) and sys.modules.get(name) is not obj and name in sys.modules:
                found.append(f"the candidate replaced module {name} in sys.modules")
            if isinstance(obj, types.FunctionType):
                now = {k: getattr(obj, k) for k in before}
            else:
                now = obj.__dict__
            for key, value in before.items():
                if key in _IGNORED_KEYS:
                    continue
                if key not in now:
                    found.append(f"the candidate deleted {name}.{key}")
                elif now[key] is not value and not _same_simple(now[key], value):
                    found.append(f"the candidate replaced {name}.{key}")
            if len(found) > 20:
                break
        return found[:20]


def _same_simple(a, b) -> bool:
    """Counters and caches a module rebinds to an equal number or string are not tampering."""
    return type(a) is type(b) and isinstance(a, (int, float, str, bool)) and a == b
