"""Routing traces for moe_expert_affinity, summarized as per-layer-pair co-occurrence matrices.

Tokens are routed top-k through L MoE layers. Layer l's gate draws k distinct experts per token
(Gumbel top-k over log popularity, a Zipf-like skew that drifts per layer); from layer l to l+1 each
chosen expert i "points at" expert succ_l(i) (a random permutation per layer pair), and every
pointed-at expert's logit gets `affinity` added: a token's next-layer experts correlate with its
current ones (affinity 0: independent; 3: most choices follow). cooc[l][i, j] = number of tokens
with expert i in layer l and expert j in layer l+1 (all k x k pairs); loads[l][e] = tokens at e.

Traces are memoized per parameters in the process (`generate`, the last CACHED ones, arrays read-only):
tests, benchmarks and any caller that evaluates several programs in one process build each trace once.
A sandboxed evaluation cannot keep one: every candidate runs in a fresh process (a warm sandbox or a
fork-server child starts from the evaluator just imported, with only the probe's traces built, by the
evaluator's prepare()), with a read-only root and a per-run /tmp and work dir, so nothing it writes
outlives it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

SIZES = {  # name -> layers, experts, gpus, top_k, tokens
    "full": (58, 256, 32, 8, 2048),  # DeepSeek-V3 sized
    "small": (8, 64, 8, 4, 1024),
    "tiny": (4, 16, 4, 2, 256),
}
GENERATOR_VERSION = 1
CACHED = 3  # traces kept per process (the full one is ~30 MB)
_CACHE: OrderedDict[tuple, "Trace"] = OrderedDict()


class TraceError(ValueError):
    """A workload mapping that names no valid instance."""


@dataclass(frozen=True)
class Trace:
    """What `place()` receives (arrays are read-only copies)."""

    cooc: np.ndarray      # (layers - 1, experts, experts) float64 token counts
    loads: np.ndarray     # (layers, experts) float64 tokens per expert
    num_gpus: int
    top_k: int
    balance_bound: float  # max over layers of (busiest GPU load / mean GPU load) allowed
    seed: int = 0

    @property
    def num_layers(self) -> int:
        return self.loads.shape[0]

    @property
    def num_experts(self) -> int:
        return self.loads.shape[1]

    @property
    def capacity(self) -> int:
        """Experts per GPU per layer (exactly)."""
        return self.num_experts // self.num_gpus


def _topk(rng: np.random.Generator, logits: np.ndarray, k: int) -> np.ndarray:
    noisy = logits + rng.gumbel(size=logits.shape)
    return np.argpartition(-noisy, k - 1, axis=1)[:, :k]


def generate(layers: int, experts: int, gpus: int, top_k: int, tokens: int, affinity: float = 4.0,
             skew: float = 0.5, seed: int = 0, balance_bound: float = 2.0) -> Trace:
    """A deterministic trace for `seed` (memoized: the same parameters give the same, read-only, Trace)."""
    key = (GENERATOR_VERSION, layers, experts, gpus, top_k, tokens, float(affinity), float(skew), seed,
           float(balance_bound))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    trace = _generate(layers, experts, gpus, top_k, tokens, affinity, skew, seed, balance_bound)
    trace.cooc.flags.writeable = trace.loads.flags.writeable = False
    _CACHE[key] = trace
    while len(_CACHE) > CACHED:
        _CACHE.popitem(last=False)
    return trace


def _generate(layers, experts, gpus, top_k, tokens, affinity, skew, seed, balance_bound) -> Trace:
    if experts % gpus or not 0 < top_k <= experts or layers < 2 or tokens < 1:
        raise TraceError(f"need experts divisible by gpus, 0 < top_k <= experts, layers >= 2 (got {layers} "
                         f"layers, {experts} experts, {gpus} gpus, top-{top_k}, {tokens} tokens)")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, experts + 1)
    rows = np.arange(tokens)[:, None]
    picks = []
    chosen = None
    for layer in range(layers):
        logits = np.log(1.0 / ranks ** skew)[rng.permutation(experts)]
        logits = np.broadcast_to(logits, (tokens, experts)).copy()
        if chosen is not None:
            succ = rng.permutation(experts)
            logits[rows, succ[chosen]] += affinity
        chosen = _topk(rng, logits, top_k)
        picks.append(chosen)
    # counts by bincount (exact integers, as the one-hot products they replace)
    cooc, loads = np.empty((layers - 1, experts, experts)), np.empty((layers, experts))
    for l, a in enumerate(picks):
        loads[l] = np.bincount(a.ravel(), minlength=experts)
        if l + 1 < layers:
            pairs = a[:, :, None] * experts + picks[l + 1][:, None, :]
            cooc[l] = np.bincount(pairs.ravel(), minlength=experts * experts).reshape(experts, experts)
    return Trace(cooc, loads, gpus, top_k, balance_bound, seed)


def build(workload: dict) -> Trace:
    """The trace a workload mapping names: {name: full|small|tiny, seed, affinity, skew, balance_bound,
    tokens, layers, experts, gpus, top_k} (explicit sizes override the named ones)."""
    name = workload.get("name", "full")
    if name not in SIZES:
        raise TraceError(f"unknown instance {name!r}; known: {', '.join(SIZES)}")
    sizes = dict(zip(("layers", "experts", "gpus", "top_k", "tokens"), SIZES[name]))
    unknown = set(workload) - set(sizes) - {"name", "seed", "affinity", "skew", "balance_bound"}
    if unknown:
        raise TraceError(f"unknown workload keys {sorted(unknown)}")
    sizes.update({k: int(workload[k]) for k in sizes if k in workload})
    extra = {k: float(workload[k]) for k in ("affinity", "skew", "balance_bound") if k in workload}
    return generate(**sizes, seed=int(workload.get("seed", 0)), **extra)


def frozen_copy(trace: Trace) -> Trace:
    """A copy with read-only arrays, for the candidate."""
    cooc, loads = trace.cooc.copy(), trace.loads.copy()
    cooc.flags.writeable = loads.flags.writeable = False
    return Trace(cooc, loads, trace.num_gpus, trace.top_k, trace.balance_bound, trace.seed)
