"""Transaction scheduling: order 100 transactions to minimize makespan. Starting program: greedy.

API: `schedule(workload) -> list of transaction ids`, every id exactly once. `workload` has:
  name       the workload's name ("WORKLOAD_1", ...)
  txns       dict id -> list of ops, e.g. {"txn0": ["w-17", "r-5", "*", ...]};
             "r-KEY" reads KEY, "w-KEY" writes KEY, "*" touches no key; each op takes 1 unit
  seed       an int for any randomness (use random.Random(seed): results must be deterministic)
  makespan(order) -> int: the makespan of a full or partial order under the problem's model
  start(order=()) -> an incremental schedule `s` with s.commit_if_next(id) -> int (when id
             would commit if appended now), s.append(id), s.makespan and s.order
Model (see the README, `adrs`: the ADRS leaderboard's): op k of a transaction started at S runs
at the instant S+k and holds its key only then; a write comes after every op already placed
on its key, a read after the last write; a transaction starts as early as that allows
(at 0 or later, whatever the start of the one before it). Makespan = the last commit (S + len).
"""


# EVOLVE-BLOCK-START
def schedule(workload):
    """Greedy: repeatedly append the transaction that adds the least makespan."""
    partial = workload.start()
    left = list(workload.txns)
    while left:
        best = min(left, key=lambda tid: (max(partial.makespan, partial.commit_if_next(tid)),
                                          partial.commit_if_next(tid)))
        partial.append(best)
        left.remove(best)
    return partial.order
# EVOLVE-BLOCK-END
