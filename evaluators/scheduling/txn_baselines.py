"""Baseline transaction schedules: the given order, shortest first, and greedy append."""
from __future__ import annotations

from .txn_sim import Txn, table_for


def given_order(txns: dict[str, Txn], model: str = "strict_2pl") -> list[str]:
    """The workload's own order."""
    return list(txns)


def shortest_first(txns: dict[str, Txn], model: str = "strict_2pl") -> list[str]:
    """Fewest ops first; ties keep the given order."""
    return sorted(txns, key=lambda tid: txns[tid].length)


def greedy_append(txns: dict[str, Txn], model: str = "strict_2pl") -> list[str]:
    """Repeatedly append the transaction that adds the least makespan under `model`.

    Ties go to the transaction that commits earliest, then to the given order.
    """
    table = table_for(model)
    left = list(txns)
    order = []
    while left:
        def cost(tid: str) -> tuple[int, int]:
            commit = table.earliest_start(txns[tid]) + txns[tid].length
            return max(table.makespan, commit), commit
        best = min(left, key=cost)
        table.place(txns[best])
        order.append(best)
        left.remove(best)
    return order


BASELINES = {"given_order": given_order, "shortest_first": shortest_first, "greedy_append": greedy_append}
