"""The order in which torch's CPU `sort(descending=True)` (its default, `stable=False`) lists each row.

DeepSeek's reference EPLB packs items largest first in the order `weight.float().sort(-1,
descending=True)` gives, so where loads tie, that order decides which GPU gets which expert.
On the CPU torch sorts each row with the C++ standard library's `std::sort` (libstdc++'s
introsort: torch's Linux builds use GCC) on (value, index) pairs compared by value alone:

- while a range holds more than 16 items: move the median of its (second, middle, last) items
  to its front, partition the rest around it with two pointers that both stop on equal values
  (so tied items swap), recurse on the right part and loop on the left; a range still longer
  than 16 after 2 * floor(log2(n)) levels is heap-sorted instead;
- then one insertion pass over the whole row, which is stable.

So a row of at most 16 items comes out in stable order (ties by index), a longer one in the
order this emulation reproduces step for step. Written here from that description (libstdc++
`bits/stl_algo.h` and `bits/stl_heap.h`); tests/evaluators/test_eplb_adrs.py pins it by hand
and, where a C++ compiler is installed, against the real `std::sort`.
"""
from __future__ import annotations

import numpy as np

THRESHOLD = 16  # libstdc++ _S_threshold: shorter ranges are left to the final insertion pass


def descending_order(values: np.ndarray) -> np.ndarray:
    """Per row of `values` [B, n], the item indices in the order torch's CPU descending sort lists them."""
    values = np.asarray(values)
    n = values.shape[1]
    stable = np.argsort(-values, axis=1, kind="stable")
    if n <= THRESHOLD:
        return stable
    ranked = np.take_along_axis(values, stable, axis=1)
    tied = np.flatnonzero((ranked[:, 1:] == ranked[:, :-1]).any(axis=1))
    if not len(tied):  # without ties every correct sort gives the same order
        return stable
    depth = 2 * (n.bit_length() - 1)
    perm = np.empty((len(tied), n), dtype=np.int64)
    for k, r in enumerate(tied.tolist()):
        v, p = values[r].tolist(), list(range(n))
        _introsort(v, p, 0, n, depth)
        perm[k] = p
    # the final insertion pass is a stable sort of what the partitioning left
    after = np.take_along_axis(values[tied], perm, axis=1)
    out = stable.copy()
    out[tied] = np.take_along_axis(perm, np.argsort(-after, axis=1, kind="stable"), axis=1)
    return out


def _introsort(v: list, p: list, first: int, last: int, depth: int) -> None:
    """Partition v[first:last] (and its indices p) as libstdc++'s __introsort_loop does."""
    while last - first > THRESHOLD:
        if depth == 0:
            _heap_sort(v, p, first, last)
            return
        depth -= 1
        cut = _partition(v, p, first, last)
        _introsort(v, p, cut, last, depth)
        last = cut


def _partition(v: list, p: list, first: int, last: int) -> int:
    """Median of (first + 1, middle, last - 1) to `first`, then split (first, last) around it."""
    x, y, z = first + 1, first + (last - first) // 2, last - 1
    vx, vy, vz = v[x], v[y], v[z]
    if vx > vy:  # "x goes before y" in a descending sort
        pick = y if vy > vz else (z if vx > vz else x)
    elif vx > vz:
        pick = x
    else:
        pick = z if vy > vz else y
    v[first], v[pick] = v[pick], v[first]
    p[first], p[pick] = p[pick], p[first]
    pivot = v[first]
    lo, hi = first + 1, last
    while True:
        while v[lo] > pivot:
            lo += 1
        hi -= 1
        while pivot > v[hi]:
            hi -= 1
        if lo >= hi:
            return lo
        v[lo], v[hi] = v[hi], v[lo]
        p[lo], p[hi] = p[hi], p[lo]
        lo += 1


def _heap_sort(v: list, p: list, first: int, last: int) -> None:
    """The depth-limit fallback: make_heap, then sort_heap, on [first, last)."""
    n = last - first
    for parent in range((n - 2) // 2, -1, -1):
        _adjust_heap(v, p, first, parent, n, (v[first + parent], p[first + parent]))
    while last - first > 1:
        last -= 1
        item = (v[last], p[last])
        v[last], p[last] = v[first], p[first]
        _adjust_heap(v, p, first, 0, last - first, item)


def _adjust_heap(v: list, p: list, base: int, hole: int, length: int, item: tuple) -> None:
    """Sift the hole down to a leaf along the preferred children, then push `item` back up."""
    top = child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if v[base + child] > v[base + child - 1]:
            child -= 1
        v[base + hole], p[base + hole] = v[base + child], p[base + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        v[base + hole], p[base + hole] = v[base + child - 1], p[base + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and v[base + parent] > item[0]:
        v[base + hole], p[base + hole] = v[base + parent], p[base + parent]
        hole = parent
        parent = (hole - 1) // 2
    v[base + hole], p[base + hole] = item
