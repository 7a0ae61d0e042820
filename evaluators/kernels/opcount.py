"""Count a candidate's float operations per element, deterministically.

The candidate runs on an ndarray subclass whose `__array_ufunc__` adds the size of
every ufunc result to a ledger (and every `astype` conversion, `np.where` and
`np.select`), refuses ufuncs outside the arithmetic allow-list, and refuses float64
(or wider) results: the kernel must be float32 arithmetic. Machine noise cannot
change the count; the same inputs always give the same number.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# IEEE arithmetic, comparisons, rounding, bit manipulation: what a float32 kernel may use.
ALLOWED_UFUNCS = frozenset("""
add subtract multiply divide true_divide floor_divide negative positive absolute fabs sign
floor ceil rint trunc fmod remainder divmod modf minimum maximum fmin fmax copysign nextafter
ldexp frexp sqrt square reciprocal greater greater_equal less less_equal equal not_equal
logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_xor invert
bitwise_not left_shift right_shift isnan isinf isfinite signbit clip bitwise_count
""".split())
WIDE = {np.dtype(np.float64), np.dtype(np.longdouble), np.dtype(np.complex64),
        np.dtype(np.complex128), np.dtype(np.clongdouble)}
COUNTED_FUNCTIONS = {"where", "select", "piecewise"}


class OpRefused(Exception):
    """The candidate used an operation outside float32 arithmetic."""


@dataclass
class Ledger:
    elements: int = 0  # total elements produced by counted operations
    calls: int = 0
    by_op: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, size: int) -> None:
        self.elements += int(size)
        self.calls += 1
        self.by_op[name] = self.by_op.get(name, 0) + int(size)


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def counting_class(ledger: Ledger) -> type:
    """An ndarray subclass that books its operations in `ledger`."""

    class Counted(np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            if ufunc.__name__ not in ALLOWED_UFUNCS:
                raise OpRefused(f"np.{ufunc.__name__} is not float32 arithmetic; allowed ufuncs: "
                                + ", ".join(sorted(ALLOWED_UFUNCS)))
            if "out" in kwargs:
                kwargs["out"] = _plain(kwargs["out"])
            result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
            first = result[0] if isinstance(result, tuple) else result
            dtype = getattr(first, "dtype", None)
            if dtype in WIDE:
                raise OpRefused(f"np.{ufunc.__name__} produced {dtype}: keep every operand float32 "
                                "(write constants as np.float32(c) or plain Python numbers)")
            size = np.size(inputs[0]) if method in ("reduce", "accumulate", "reduceat") else np.size(first)
            ledger.add(ufunc.__name__, size)
            return _wrap(result)

        def __array_function__(self, func, types, args, kwargs):
            result = super().__array_function__(func, types, args, kwargs)
            if func.__name__ in COUNTED_FUNCTIONS:
                ledger.add(func.__name__, np.size(result))
            return _wrap(result)

        def astype(self, dtype, *args, **kwargs):
            out = super().astype(dtype, *args, **kwargs)
            if np.dtype(dtype) in WIDE:
                raise OpRefused(f"astype({np.dtype(dtype)}): keep the computation in float32")
            if np.dtype(dtype) != self.dtype:
                ledger.add("astype", out.size)
            return out

    def _wrap(value):
        if isinstance(value, np.ndarray) and not isinstance(value, Counted):
            return value.view(Counted)
        if isinstance(value, tuple):
            return tuple(_wrap(v) for v in value)
        return value

    return Counted


def count_ops(fn, x: np.ndarray) -> tuple[np.ndarray, Ledger]:
    """Run fn on x viewed as a counting array: (its output as a plain array, the ledger).

    Raises OpRefused for a refused operation, or when the output is not the counting
    type (the candidate stripped it with np.asarray / np.array / .view(np.ndarray), so
    some of its operations went uncounted).
    """
    ledger = Ledger()
    cls = counting_class(ledger)
    out = fn(x.copy().view(cls))
    if isinstance(out, np.ndarray) and not isinstance(out, cls):
        raise OpRefused("the result lost the input's array type, so operations went uncounted: "
                        "do not convert the input with np.asarray/np.array/.view(np.ndarray); "
                        "use it, and arrays derived from it, directly")
    return _plain(out), ledger
