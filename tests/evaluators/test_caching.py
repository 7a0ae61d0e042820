"""Cache-eviction evaluator: simulator semantics on hand-worked traces, references, bad candidates."""
import numpy as np
import pytest

from evaluators import caching
from evaluators.caching.simulate import History, belady_hits, lfu, lru, simulate
from evaluators.caching.traces import make_trace

INITIAL = "problems/cache_eviction/initial.py"


def test_lru_by_hand():
    # cache of 2: a b a c b -> a miss, b miss, a hit, c evicts b (least recent), b miss (evicts a)
    hits, evicted = simulate(np.array([1, 2, 1, 3, 2]), 2, lru)
    assert hits == 1 and evicted == [2, 1]


def test_lfu_by_hand():
    # a a b c: c evicts b (1 hit) rather than a (2 hits)
    hits, evicted = simulate(np.array([1, 1, 2, 3, 1]), 2, lfu)
    assert hits == 2 and evicted == [2]


def test_belady_by_hand():
    # cache 2: a b c a b -> c must evict; a is used next, so evict b; then a hits, b misses
    assert belady_hits(np.array([1, 2, 3, 1, 2]), 2) == 1


def test_floor_is_priority_of_last_evicted():
    floors = []
    simulate(np.array([1, 2, 3, 4]), 2, lambda now, h, t, g, floor: floors.append(floor) or now)
    assert floors == [0.0, 0.0, 0.0, 1.0]  # evicting object 1 (priority 0) then object 2 (priority 1)


def test_traces_are_deterministic_and_distinct():
    a = make_trace("zipf", 1, 1000, 100)
    assert np.array_equal(a, make_trace("zipf", 1, 1000, 100))
    assert not np.array_equal(a, make_trace("zipf", 2, 1000, 100))
    assert not np.array_equal(a, make_trace("phases", 1, 1000, 100))


def test_belady_bounds_lru_and_lfu_on_every_trace():
    for name in ("zipf", "scan", "phases"):
        trace = make_trace(name, 1, 5000, 1000)
        best = belady_hits(trace, 100)
        assert simulate(trace, 100, lru)[0] <= best and simulate(trace, 100, lfu)[0] <= best


def test_initial_program_is_lru(root):
    result = caching.evaluate(str(root / INITIAL), {"requests": 3000, "objects": 500, "cache_size": 50})
    m = result["metrics"]
    assert m["valid"] is True
    for name in ("zipf", "scan", "phases"):
        trace = make_trace(name, 1, 3000, 500)
        assert m[f"hit_rate_{name}"] == simulate(trace, 50, lru)[0] / 3000
    assert m["hit_rate"] == pytest.approx(np.mean([m["hit_rate_zipf"], m["hit_rate_scan"], m["hit_rate_phases"]]))


@pytest.mark.parametrize("body,reason", [
    ("return None", "priority returned NoneType"),
    ("return float('nan')", "finite number"),
    ("return 1 / 0", "ZeroDivisionError"),
    ("return 'high'", "return a number"),
])
def test_bad_candidates_fail_with_reason(tmp_path, body, reason):
    path = tmp_path / "c.py"
    path.write_text(f"def priority(now, hits, total_hits, last_gap, floor):\n    {body}\n")
    result = caching.evaluate(str(path), {"requests": 200, "objects": 50, "cache_size": 10})
    assert result["metrics"]["valid"] is False
    assert reason in result["artifacts"]["error"]


def test_missing_function_and_syntax_error(tmp_path):
    (tmp_path / "a.py").write_text("def other(): pass\n")
    (tmp_path / "b.py").write_text("def priority(:\n")
    assert "must define a function `priority`" in caching.evaluate(str(tmp_path / "a.py"), {})["artifacts"]["error"]
    assert "SyntaxError" in caching.evaluate(str(tmp_path / "b.py"), {})["artifacts"]["error"]


def test_unknown_workload_key_is_an_error():
    with pytest.raises(ValueError, match="unknown cache workload keys"):
        caching.evaluate(INITIAL, {"cache_sise": 3})


def test_probe_returns_decisions(root):
    workload = {"requests": 300, "objects": 60, "cache_size": 10, "traces": ["zipf"]}
    out = caching.probe(str(root / INITIAL), workload)
    trace = make_trace("zipf", 1, 300, 60).tolist()
    times: list[int] = []
    evicted = simulate(np.array(trace), 10, lru, evicted_at=times)[1]
    # what LRU evicted, in order (no raw priorities); an object never asked for again is dead: -1
    dead = [key not in trace[now + 1:] for key, now in zip(evicted, times)]
    assert out == {"zipf@0": [-1 if d else key for key, d in zip(evicted, dead)], "floor_stays_finite": True}
    assert any(dead) and not all(dead)
    assert out == caching.probe(str(root / INITIAL), workload)


def test_a_late_probe_window_replays_after_the_history_before_it():
    """`now`, `total_hits` and `last_gap` in a window are what they are at that point of the whole trace."""
    trace = make_trace("zipf", 0, 3000, 300)
    window, whole = [], []
    simulate(trace[2000:], 20, lambda *a: window.append(a[:4]) or a[0], History.of(trace[:2000]))
    simulate(trace, 20, lambda *a: whole.append(a[:4]) or a[0])
    late = [(now, th, gap) for now, _, th, gap in whole[2000:]]
    assert [(now, th, gap) for now, _, th, gap in window] == late  # hits start over: the cache starts empty
    out = caching.probe(INITIAL, {"traces": ["zipf"], "requests": 3000, "objects": 300, "cache_size": 20,
                                  "windows": [[0, 500], [2500, 500]]})
    assert set(out) == {"zipf@0", "zipf@2500", "floor_stays_finite"} and all(out.values())


POLICY = "def priority(now, hits, total_hits, last_gap, floor):\n    return {}\n"


def _hash(tmp_path, name: str, body: str) -> str:
    from evolve.problem import load_problem
    from evolve.search import fhash

    (tmp_path / name).write_text(POLICY.format(body))
    problem = load_problem("cache_eviction")
    probe = caching.probe(str(tmp_path / name), problem.spec.workloads.probe)
    key = fhash.cache_key(problem.name, problem.evaluator_ref, problem.spec.workloads.probe, 20)
    return fhash.functional_hash(key, [probe], 20)


def test_two_policies_with_the_same_decisions_share_a_hash(tmp_path):
    """LRU by the clock, scaled and shifted: other priorities, the same evictions, the same hit rate."""
    lru_hash = _hash(tmp_path, "lru.py", "now")
    assert _hash(tmp_path, "scaled.py", "3.5 * now + 1000 + 0 * floor") == lru_hash
    assert _hash(tmp_path, "lfu.py", "total_hits * 100000 + now") != lru_hash  # decides otherwise
    workload = {"requests": 3000, "objects": 500, "cache_size": 50, "seed": 3}
    rates = [caching.evaluate(str(tmp_path / f), workload)["metrics"]["hit_rate"] for f in ("lru.py", "scaled.py")]
    assert rates[0] == rates[1]


def test_a_policy_that_feeds_on_the_floor_without_bound_is_not_merged_with_lru(tmp_path):
    """`now + now * floor` evicts as LRU does wherever a cache starts empty (the probe's windows), but its
    floor multiplies at every turnover of the cache, and the whole trace overflows it: an invalid run."""
    lru_hash = _hash(tmp_path, "lru.py", "now")
    assert _hash(tmp_path, "feeds.py", "now + now * floor") != lru_hash
    assert _hash(tmp_path, "aged.py", "now + 1000 * floor") == lru_hash  # grows too, but stays finite
    full = {"traces": ["scan"], "requests": 20000, "objects": 5000, "cache_size": 200, "seed": 1}
    valid = {f: caching.evaluate(str(tmp_path / f), full)["metrics"]["valid"] for f in ("lru.py", "feeds.py", "aged.py")}
    assert valid == {"lru.py": True, "feeds.py": False, "aged.py": True}


def test_probe_names_the_failure(tmp_path):
    (tmp_path / "a.py").write_text("def priority(now, hits, total_hits, last_gap, floor):\n    return 1 / 0\n")
    (tmp_path / "b.py").write_text("def priority(now, hits, total_hits, last_gap, floor):\n    return None\n")
    workload = {"requests": 50, "objects": 20, "cache_size": 5, "traces": ["zipf"]}
    assert caching.probe(str(tmp_path / "a.py"), workload) == {"__exception__": "ZeroDivisionError"}
    assert "priority returned NoneType" in caching.probe(str(tmp_path / "b.py"), workload)["__exception__"]


def test_prepare_builds_the_probe_ahead_and_changes_no_output(root):
    """prepare() (called in a fork server before any candidate) fills the probe's caches; the probe then
    gives exactly what it gives cold, and a stage's workload (no windows) is accepted too."""
    workload = {"traces": ["zipf", "scan"], "requests": 3000, "objects": 300, "cache_size": 20, "seed": 5,
                "windows": [[0, 400], [2500, 300]]}
    for cache in (caching._trace, caching._window, caching._last_use):
        cache.cache_clear()
    cold = caching.probe(str(root / INITIAL), workload)
    for cache in (caching._trace, caching._window, caching._last_use):
        cache.cache_clear()
    caching.prepare(workload)
    caching.prepare({"traces": ["zipf"], "requests": 2000, "objects": 500, "cache_size": 50, "seed": 7})
    built = caching._window.cache_info().currsize
    assert built == 5 and caching._last_use.cache_info().currsize == 3
    assert caching.probe(str(root / INITIAL), workload) == cold
    assert caching._window.cache_info().currsize == built  # nothing left to build
    with pytest.raises(ValueError, match="unknown cache workload keys"):
        caching.prepare({"cache_sise": 3})
