"""Tripwires inside the sandbox: what the candidate must not do to the code that scores it.

The candidate runs in the evaluator's process, so the runner (1) installs an audit hook
before anything else is imported -- Python offers no way to remove one -- and (2) snapshots
the modules the evaluator relies on before the candidate is imported. After the evaluation
it reports, as reasons, any watched event the candidate caused and any module attribute,
class attribute or function code object that changed. A non-empty list fails the run
(`invalid_result`) whatever the evaluator returned. A fork server takes the snapshot once
(`prepare`), before it forks; its children then compare only what was written since (`_Tags`).

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
    def prepare(self) -> None:
        """Take the module snapshot now, for `arm()` to use if no watched module comes or goes before it
        (the fork server takes it once, before it forks: each child would take the same one), with the
        version tags of the dicts it copied (see _Tags): a child compares only the dicts written since."""
        self.snapshot = self._snap()
        self._prepared = self._watched_names()
        self._tags = _Tags.of(self.snapshot)

    def arm(self) -> None:
        """Snapshot the watched modules (or keep the prepared snapshot, brought up to date), then start
        flagging events."""
        tags = getattr(self, "_tags", None)
        same_modules = (tags is not None and not tags.modules_changed()) or \
            (bool(self.snapshot) and getattr(self, "_prepared", None) == self._watched_names())
        if not same_modules or (tags is not None and tags.changed()):  # (trusted code wrote since prepare())
            self.snapshot, self._tags = self._snap(), None
        elif tags is not None:
            tags.reset()
        self.active = True

    @staticmethod
    def _watched_names() -> list:
        return [(name, id(m)) for name, m in list(sys.modules.items())
                if m is not None and name.split(".")[0] in WATCHED_MODULES]

    def _snap(self) -> list[tuple]:
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
        return snap

    def reasons(self, list=list, set=set, sorted=sorted, range=range, len=len, getattr=getattr,
                isinstance=isinstance) -> list[str]:
        """Stop flagging; what the candidate did that it must not (empty when clean). (The builtins it uses
        are bound when this module is imported: a candidate that replaces builtins.sorted or builtins.len
        must not blind the comparison that would report it.)"""
        self.active = False
        found = list(self.events)
        tags = getattr(self, "_tags", None)
        # with tags (a forked child), only what was written since the snapshot is compared: the child then
        # touches, and so copies, few of the pages the snapshot refers to
        written = set(tags.changed()) if tags is not None else set(range(len(self.snapshot)))
        moved = tags is None or tags.modules_changed()
        todo = sorted(written | set(tags.modules if moved and tags is not None else ()))
        for i in todo:
            name, obj, before = self.snapshot[i]
            if isinstance(obj, types.ModuleType) and sys.modules.get(name) is not obj and name in sys.modules:
                found.append(f"the candidate replaced module {name} in sys.modules")
            if i not in written:
                continue
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


class _Tags:
    """What tells, without reading a snapshotted object, that it was not changed. CPython gives every dict
    a version (PEP 509's ma_version_tag) that each write changes, and a function holds its code, defaults
    and keyword defaults as three pointers; both are read from memory, with no reference count changed, so
    a forked child compares only the module and class dicts and the functions that were written, instead
    of copying every page the snapshot refers to. Used only where this interpreter shows both at work
    (a dict of its own changing its tag on every kind of write; every snapshotted function's pointers
    matching its attributes); elsewhere everything is compared."""

    TAG = 24  # ma_version_tag: after PyObject_HEAD (16 bytes) and ma_used (8)
    FUNC = 48  # func_code, func_defaults, func_kwdefaults: after PyObject_HEAD, globals, builtins, name, qualname
    GAP = 1 << 30  # addresses closer than this share one word array

    def __init__(self, ctypes, snapshot: list[tuple]):
        import gc
        self.ctypes = ctypes
        self.dicts: list[tuple[int, int]] = []  # (snapshot index, address of the dict)
        self.funcs: list[tuple[int, int]] = []  # (snapshot index, address of the function)
        self.modules: list[int] = []
        self.keep: list = []  # the dicts read here stay alive (a class's dict lives behind its mappingproxy)
        for i, (_, obj, before) in enumerate(snapshot):
            if isinstance(obj, types.FunctionType):
                self.funcs.append((i, id(obj)))
                continue
            if isinstance(obj, types.ModuleType):
                d = obj.__dict__
                self.modules.append(i)
            else:
                d = next((r for r in gc.get_referents(obj.__dict__) if type(r) is dict), None)
            if d is None:
                raise ValueError(f"no dict behind {obj!r}")
            self.dicts.append((i, id(d)))
            self.keep.append(d)
        self.sys_modules = sys.modules
        words = self._words([a + self.TAG for _, a in self.dicts] +
                            [a + self.FUNC + 8 * k for _, a in self.funcs for k in range(3)])
        self.dict_words = [(i, *words[a + self.TAG]) for i, a in self.dicts]
        self.func_words = [(i, *words[a + self.FUNC]) for i, a in self.funcs]
        self.expected = [self._pointers(a) for _, a in self.funcs]
        for (i, _), seen in zip(self.funcs, self.expected):
            before = snapshot[i][2]
            wanted = tuple(0 if before[k] is None else id(before[k])
                           for k in ("__code__", "__defaults__", "__kwdefaults__"))
            if seen != wanted:
                raise ValueError("function layout")
        self.reset()

    @classmethod
    def of(cls, snapshot: list[tuple]) -> "_Tags | None":
        if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)):
            return None
        import ctypes
        try:
            tags = cls(ctypes, snapshot)
        except ValueError:
            return None
        return tags if tags._works() else None

    def _tag(self, address: int) -> int:
        return self.ctypes.c_uint64.from_address(address + self.TAG).value

    def _pointers(self, address: int) -> tuple:
        return tuple((self.ctypes.c_uint64 * 3).from_address(address + self.FUNC))

    def _words(self, addresses: list[int]) -> dict[int, tuple]:
        """Each (8-aligned) address as (array, index) into a word array laid over the few stretches of memory
        they fall in: a child reads a word by indexing, with no ctypes object made per read (a read each way
        costs about 2 us, which over a few hundred dicts and functions, at arm() and again at reasons(), was
        the bulk of what a trivial candidate's guard cost)."""
        ordered = sorted(set(addresses))
        spans: list[list[int]] = []
        for address in ordered:
            if spans and address - spans[-1][1] < self.GAP:
                spans[-1][1] = address + 8
            else:
                spans.append([address, address + 8])
        arrays = [(lo, (self.ctypes.c_uint64 * ((hi - lo) // 8)).from_address(lo)) for lo, hi in spans]
        out, k = {}, 0
        for address in ordered:
            while address >= spans[k][1]:
                k += 1
            lo, array = arrays[k]
            out[address] = (array, (address - lo) // 8)
        return out

    def _works(self) -> bool:
        probe = {"a": 1}
        seen = [self._tag(id(probe))]
        for write in (lambda: probe.__setitem__("a", 2), lambda: probe.__setitem__("b", 1), lambda: probe.pop("a"),
                      lambda: probe.update(b=3), lambda: probe.setdefault("c", 1)):
            write()
            seen.append(self._tag(id(probe)))
        return len(set(seen)) == len(seen)

    def reset(self) -> None:
        """What is there now is the baseline."""
        self.tags = [words[k] for _, words, k in self.dict_words]
        self.modules_tag = self._tag(id(self.sys_modules))

    def changed(self, zip=zip, sorted=sorted) -> list[int]:
        """Snapshot indices of the dicts and functions written since the baseline (builtins bound as in
        Guard.reasons)."""
        out = [i for (i, words, k), t in zip(self.dict_words, self.tags) if words[k] != t]
        out += [i for (i, words, k), p in zip(self.func_words, self.expected) if (words[k], words[k + 1], words[k + 2]) != p]
        return sorted(out)

    def modules_changed(self) -> bool:
        """Whether sys.modules was written (or replaced) since the baseline."""
        return sys.modules is not self.sys_modules or self._tag(id(self.sys_modules)) != self.modules_tag


def _same_simple(a, b, type=type, isinstance=isinstance) -> bool:
    """Counters and caches a module rebinds to an equal number or string are not tampering."""
    return type(a) is type(b) and isinstance(a, (int, float, str, bool)) and a == b
