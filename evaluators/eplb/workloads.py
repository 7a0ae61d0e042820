"""Expert-load workloads: a seeded, versioned trace generator, user-trace loaders, named presets.

A trace is a float64 array `load[windows, layers, experts]` of token counts. A
placement is built from one window's loads and scored on that window and on the
next one (what serving sees after the rebalance). `scoring` says how (adrs.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .history import WINDOW_STEPS, HistoryError, load_history, read_json

# Bump when the generator's output for a given seed changes; recorded in artifacts.
GENERATOR_VERSION = 1
DATA_DIR = Path(__file__).parent / "data"


class WorkloadError(ValueError):
    """The workload mapping or a user trace file is malformed; the message says how."""


@dataclass(frozen=True)
class Setup:
    """The serving cluster and model shape the placement is for."""

    num_layers: int = 58
    num_logical: int = 256
    num_groups: int = 8
    num_nodes: int = 4
    num_gpus: int = 32
    num_replicas: int = 288

    @property
    def slots_per_gpu(self) -> int:
        return self.num_replicas // self.num_gpus

    def check(self) -> None:
        """Raise WorkloadError unless the sizes fit together (equal slots per GPU, GPUs per node)."""
        s = self
        if min(s.num_layers, s.num_logical, s.num_groups, s.num_nodes, s.num_gpus) < 1:
            raise WorkloadError(f"every size must be >= 1: {s}")
        if s.num_replicas < s.num_logical:
            raise WorkloadError(f"replicas ({s.num_replicas}) must be >= experts ({s.num_logical})")
        if s.num_replicas % s.num_gpus:
            raise WorkloadError(f"replicas ({s.num_replicas}) must divide evenly over gpus ({s.num_gpus})")
        if s.num_gpus % s.num_nodes:
            raise WorkloadError(f"gpus ({s.num_gpus}) must divide evenly over nodes ({s.num_nodes})")
        if s.num_logical % s.num_groups:
            raise WorkloadError(f"experts ({s.num_logical}) must divide evenly into groups ({s.num_groups})")


@dataclass(frozen=True)
class TraceSpec:
    """How the synthetic loads look: skew, drift between windows, bursts, layer correlation."""

    windows: int = 5
    tokens: int = 131072          # token-to-expert assignments per layer per window (16k tokens x top-8)
    popularity: str = "lognormal"  # or "zipf"
    skew: float = 1.0             # lognormal sigma of expert popularity, or the Zipf exponent
    group_skew: float = 0.15      # lognormal sigma shared by the experts of one group
    layer_corr: float = 0.5       # AR(1) correlation of popularity between adjacent layers
    drift: float = 0.4            # 0: frozen popularity; 1: fresh popularity every window
    burst_prob: float = 0.0       # chance an expert bursts in a window (per layer)
    burst_scale: float = 4.0      # load multiplier during a burst


@dataclass
class Workload:
    """Everything evaluate() needs: the setup, the trace, and which windows to rebalance at."""

    name: str
    seed: int
    setup: Setup
    load: np.ndarray              # [windows, layers, experts]
    eval_windows: int = 4         # placements built at windows 0..k-1, scored on w and w+1
    repeats: int = 5              # timed candidate calls at least (median taken)
    time_budget_s: float = 20.0   # stop extra timing calls once the candidate has used this much
    array: str = "numpy"          # what the candidate receives: "numpy" or "torch"
    source: str = "generated"
    spec: TraceSpec | None = None
    scoring: str = "ours"         # "ours", or "adrs": as the ADRS leaderboard's harness scores (adrs.py)
    window_steps: int | None = None  # steps summed per window, for a load_history trace

    def describe(self) -> dict:
        """A small JSON-able summary for artifacts."""
        out = {"name": self.name, "seed": self.seed, "source": self.source,
               "generator_version": GENERATOR_VERSION, "windows": int(self.load.shape[0]),
               "eval_windows": self.eval_windows, **self.setup.__dict__}
        if self.spec is not None:
            out.update({f"trace_{k}": v for k, v in self.spec.__dict__.items()})
        if self.window_steps is not None:
            out["window_steps"] = self.window_steps
        if self.scoring != "ours":
            out["scoring"] = self.scoring
        return out


_SMALL = Setup(num_layers=8, num_logical=64, num_groups=8, num_nodes=2, num_gpus=8, num_replicas=80)
_TINY = Setup(num_layers=2, num_logical=16, num_groups=4, num_nodes=2, num_gpus=4, num_replicas=20)

# name -> (setup, trace spec). Default sizes are DeepSeek-V3 serving: 58 x 256 experts on 32 GPUs.
NAMED: dict[str, tuple[Setup, TraceSpec]] = {
    "tiny": (_TINY, TraceSpec(windows=2, tokens=4096, skew=1.0, drift=0.5)),
    "small": (_SMALL, TraceSpec(windows=3, tokens=32768, skew=1.0, drift=0.5)),
    "drift-lognormal": (Setup(), TraceSpec()),
    "stable-lognormal": (Setup(), TraceSpec(drift=0.15)),
    "heavy-drift": (Setup(), TraceSpec(skew=1.2, drift=0.8)),
    "zipf": (Setup(), TraceSpec(popularity="zipf", skew=1.0, group_skew=0.0, drift=0.4)),
    "bursty": (Setup(), TraceSpec(drift=0.3, burst_prob=0.03, burst_scale=6.0)),
    "mild": (Setup(), TraceSpec(skew=0.5, group_skew=0.1, drift=0.5)),
}

_SETUP_KEYS = {"layers": "num_layers", "experts": "num_logical", "groups": "num_groups",
               "nodes": "num_nodes", "gpus": "num_gpus", "replicas": "num_replicas"}
_SPEC_KEYS = {f.name for f in fields(TraceSpec)}
_RUN_KEYS = {"eval_windows", "repeats", "time_budget_s", "array", "scoring", "window_steps"}
_META_KEYS = {"name", "seed", "version", "path", "load_history"}
SCORINGS = ("ours", "adrs")


def _ar_layers(rng: np.random.Generator, num_layers: int, tail: tuple, corr: float) -> np.ndarray:
    """Standard-normal field over layers with AR(1) correlation `corr` between adjacent layers."""
    eps = rng.standard_normal((num_layers, *tail))
    z = np.empty_like(eps)
    z[0] = eps[0]
    keep = math.sqrt(max(0.0, 1.0 - corr * corr))
    for layer in range(1, num_layers):
        z[layer] = corr * z[layer - 1] + keep * eps[layer]
    return z


def _latent(rng, setup: Setup, spec: TraceSpec) -> tuple[np.ndarray, np.ndarray]:
    """One window's latent popularity [layers, experts]: the expert term and the group term."""
    expert = _ar_layers(rng, setup.num_layers, (setup.num_logical,), spec.layer_corr)
    group = _ar_layers(rng, setup.num_layers, (setup.num_groups,), spec.layer_corr)
    group_of = np.arange(setup.num_logical) // (setup.num_logical // setup.num_groups)
    return expert, group[:, group_of]


def _probabilities(spec: TraceSpec, expert: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per-layer routing probabilities from the latent fields (lognormal or Zipf by rank)."""
    if spec.popularity == "lognormal":
        logits = spec.skew * expert + spec.group_skew * group
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    else:  # zipf: popularity by rank of the latent, exponent = skew
        score = expert + spec.group_skew * group
        rank = np.argsort(np.argsort(-score, axis=-1), axis=-1)
        weights = (rank + 1.0) ** (-spec.skew)
    return weights / weights.sum(axis=-1, keepdims=True)


def generate_trace(setup: Setup, spec: TraceSpec, seed: int) -> np.ndarray:
    """Token counts [windows, layers, experts]: heavy-tailed, drifting, bursty, layer-correlated."""
    if spec.popularity not in ("lognormal", "zipf"):
        raise WorkloadError(f"popularity must be 'lognormal' or 'zipf', got {spec.popularity!r}")
    if spec.windows < 2 or spec.tokens < 1 or not 0.0 <= spec.drift <= 1.0:
        raise WorkloadError("need windows >= 2, tokens >= 1 and 0 <= drift <= 1")
    if not -1.0 < spec.layer_corr < 1.0 or spec.skew < 0 or not 0 <= spec.burst_prob <= 1:
        raise WorkloadError("need -1 < layer_corr < 1, skew >= 0, 0 <= burst_prob <= 1")
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed)])
    expert, group = _latent(rng, setup, spec)
    keep = math.sqrt(1.0 - spec.drift ** 2)
    load = np.empty((spec.windows, setup.num_layers, setup.num_logical))
    for w in range(spec.windows):
        if w:  # mean-reverting drift keeps the popularity distribution stationary
            new_expert, new_group = _latent(rng, setup, spec)
            expert = keep * expert + spec.drift * new_expert
            group = keep * group + spec.drift * new_group
        p = _probabilities(spec, expert, group)
        if spec.burst_prob > 0:
            burst = rng.random(p.shape) < spec.burst_prob
            p = np.where(burst, p * spec.burst_scale, p)
            p /= p.sum(axis=-1, keepdims=True)
        load[w] = rng.poisson(spec.tokens * p)
    return load


def _check_trace(load, origin: str) -> np.ndarray:
    """A user trace as float64 [windows, layers, experts], or WorkloadError naming the problem."""
    try:
        arr = np.asarray(load, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WorkloadError(f"{origin}: loads are not a numeric array ({exc})") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise WorkloadError(f"{origin}: expected loads shaped [windows, layers, experts], got {arr.shape}")
    if arr.shape[0] < 2:
        raise WorkloadError(f"{origin}: need at least 2 windows (build on one, score on the next)")
    bad = ~np.isfinite(arr)
    if bad.any():
        w, l, e = np.argwhere(bad)[0]
        raise WorkloadError(f"{origin}: load is not finite (NaN/inf) at window {w}, layer {l}, expert {e}")
    if (arr < 0).any():
        w, l, e = np.argwhere(arr < 0)[0]
        raise WorkloadError(f"{origin}: negative load at window {w}, layer {l}, expert {e}")
    return arr


def load_trace(path: str | Path) -> np.ndarray:
    """Read an NPZ (array `load`, or its only array) or JSON `load_history` trace file."""
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (DATA_DIR / p).exists():
        p = DATA_DIR / p
    if not p.is_file():
        raise WorkloadError(f"trace file not found: {path}")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as npz:
                keys = list(npz.keys())
                key = "load" if "load" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise WorkloadError(f"{p}: NPZ must hold an array named 'load' (found {keys})")
                return _check_trace(npz[key], str(p))
        except WorkloadError:
            raise
        except Exception as exc:  # corrupt zip, pickled objects, ...
            raise WorkloadError(f"{p}: cannot read NPZ ({exc})") from None
    doc = read_json(p, WorkloadError)
    records = doc.get("load_history") if isinstance(doc, dict) else doc
    if not isinstance(records, list) or not records:
        raise WorkloadError(f"{p}: expected {{'load_history': [records...]}} or a list of records")
    windows = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "logical_expert_load" not in rec:
            raise WorkloadError(f"{p}: record {i} has no 'logical_expert_load'")
        windows.append(np.asarray(rec["logical_expert_load"], dtype=object))
    shapes = {w.shape for w in windows}
    if len(shapes) != 1:
        raise WorkloadError(f"{p}: records differ in shape {sorted(shapes)}; each must be [layers, experts]")
    stacked = np.stack(windows)
    if stacked.ndim == 2:  # one layer per record
        stacked = stacked[:, None, :]
    return _check_trace(stacked, str(p))


def _like(default, value, key: str):
    """`value` checked against the type of the field's default (an int is a fine float)."""
    if isinstance(default, str):
        if not isinstance(value, str):
            raise WorkloadError(f"workload key '{key}' must be a string, got {value!r}")
        return value
    if isinstance(default, int):
        return _as_int(value, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WorkloadError(f"workload key '{key}' must be a number, got {value!r}")
    return float(value)


def _as_int(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise WorkloadError(f"workload key '{key}' must be an integer, got {value!r}")
    return int(value)


def build_workload(spec: dict | None) -> Workload:
    """Turn the problem YAML's workload mapping into a Workload (generated or loaded)."""
    spec = dict(spec or {})
    unknown = set(spec) - _META_KEYS - _RUN_KEYS - _SPEC_KEYS - set(_SETUP_KEYS)
    if unknown:
        raise WorkloadError(f"unknown workload key(s) {sorted(unknown)}; known: "
                            f"{sorted(_META_KEYS | _RUN_KEYS | _SPEC_KEYS | set(_SETUP_KEYS))}")
    version = spec.get("version", GENERATOR_VERSION)
    if version != GENERATOR_VERSION:
        raise WorkloadError(f"workload asks for generator version {version}; this evaluator has {GENERATOR_VERSION}")
    name = str(spec.get("name", "drift-lognormal"))
    seed = _as_int(spec.get("seed", 0), "seed")
    setup_over = {_SETUP_KEYS[k]: _as_int(v, k) for k, v in spec.items() if k in _SETUP_KEYS}
    scoring = spec.get("scoring", "ours")
    if scoring not in SCORINGS:
        raise WorkloadError(f"workload key 'scoring' must be 'ours' (this evaluator's) or 'adrs' (as the ADRS "
                            f"leaderboard's harness scores), got {scoring!r}")
    if "path" in spec and "load_history" in spec:
        raise WorkloadError("give either 'path' (a trace of windows) or 'load_history' (per-step counts), not both")
    if "window_steps" in spec and "load_history" not in spec:
        raise WorkloadError("workload key 'window_steps' applies to a 'load_history' trace only; remove it")
    window_steps = None
    if "path" in spec or "load_history" in spec:
        if "path" in spec:
            load, source = load_trace(spec["path"]), str(spec["path"])
        else:
            window_steps = spec.get("window_steps", WINDOW_STEPS)
            try:
                load = load_history(spec["load_history"], window_steps, DATA_DIR)
            except HistoryError as exc:
                raise WorkloadError(str(exc)) from None
            source = str(spec["load_history"])
        base = Setup(num_layers=load.shape[1], num_logical=load.shape[2])
        if base.num_logical != 256 and not {"num_groups", "num_replicas"} <= set(setup_over):
            raise WorkloadError("a trace without 256 experts must also give 'groups' and 'replicas'")
        setup, trace_spec = replace(base, **setup_over), None
        if (setup.num_layers, setup.num_logical) != load.shape[1:]:
            raise WorkloadError(f"trace is [*, {load.shape[1]}, {load.shape[2]}] but the workload says "
                                f"{setup.num_layers} layers x {setup.num_logical} experts")
    else:
        if name not in NAMED:
            raise WorkloadError(f"unknown workload name {name!r}; named workloads: {sorted(NAMED)}")
        base_setup, base_spec = NAMED[name]
        setup = replace(base_setup, **setup_over)
        trace_spec = replace(base_spec, **{k: _like(getattr(base_spec, k), v, k)
                                           for k, v in spec.items() if k in _SPEC_KEYS})
        setup.check()
        load, source = generate_trace(setup, trace_spec, seed), "generated"
    setup.check()
    array = spec.get("array", "numpy")
    if array not in ("numpy", "torch"):
        raise WorkloadError(f"workload key 'array' must be 'numpy' or 'torch', got {array!r}")
    # the harness rebalances at every window but the last; our default is the first 4
    default_windows = load.shape[0] - 1 if scoring == "adrs" else 4
    eval_windows = min(_as_int(spec.get("eval_windows", default_windows), "eval_windows"), load.shape[0] - 1)
    repeats = _as_int(spec.get("repeats", 5), "repeats")
    if eval_windows < 1 or repeats < 1:
        raise WorkloadError("eval_windows and repeats must be >= 1")
    return Workload(name=name, seed=seed, setup=setup, load=load, eval_windows=eval_windows,
                    repeats=repeats, time_budget_s=_like(20.0, spec.get("time_budget_s", 20.0), "time_budget_s"),
                    array=array, source=source, spec=trace_spec, scoring=scoring, window_steps=window_steps)
