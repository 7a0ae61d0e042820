"""`evolution.deterministic: true`: a run whose every choice follows from its seed, not from timing.

With several evaluations (or LLM calls) at once, the order in which they finish decides which
programs are in the population when the next parent is drawn, which of two equal children is the
original, and the iteration numbers. In deterministic mode each candidate holds a ticket (its
iteration, reserved when it starts) and the loop keeps four orders by ticket:
- candidate i draws its parent and inspirations from the population as it was once programs
  0..max(0, i - lag) were recorded and no later one (`lag`: the candidates in flight), with a
  random stream of its own (seed, i);
- duplicate checks, syntactic then functional, see exactly the programs of earlier tickets;
- results are recorded (population, patience, the LLM's failure list) in ticket order.
Evaluations still run side by side; only their recording waits its turn. What stays timing
dependent: a wall-time budget, LLM cooldowns and $ budgets, and a resumed session's first `lag`
candidates.
"""
from __future__ import annotations

import asyncio
import contextvars
import random

TICKET: contextvars.ContextVar[int | None] = contextvars.ContextVar("ticket", default=None)


class Sequence:
    def __init__(self, lag: int, base: int, seed: int):
        self.lag, self.base, self.seed = lag, base, seed  # base: the first ticket of this session's candidates
        self.unsettled: set[int] = set()
        self.unjudged = {"syntactic": set(), "functional": set()}
        self.selected = base - 1  # the last candidate ticket that has drawn its parent
        self.closed = False  # no more candidates will start
        self.cond = asyncio.Condition()

    def begin(self, base: int) -> None:
        """This session's candidates start at ticket `base` (the programs before it are the run's so far)."""
        self.base, self.selected = base, base - 1

    def rng(self, ticket: int) -> random.Random:
        return random.Random(f"{self.seed}:{ticket}")

    def start(self, ticket: int) -> None:
        self.unsettled.add(ticket)
        for waiting in self.unjudged.values():
            waiting.add(ticket)

    async def _until(self, ready) -> None:
        async with self.cond:
            await self.cond.wait_for(ready)

    def _notify(self) -> None:
        async def wake():
            async with self.cond:
                self.cond.notify_all()
        asyncio.ensure_future(wake())

    async def before_select(self, ticket: int) -> None:
        """Wait for the population this candidate draws from: programs up to max(0, ticket - lag) recorded."""
        upto = max(0, ticket - self.lag)
        await self._until(lambda: self.selected >= ticket - 1 and not any(t <= upto for t in self.unsettled))

    def has_selected(self, ticket: int) -> None:
        self.selected = max(self.selected, ticket)
        self._notify()

    async def before_judging(self, ticket: int, level: str) -> None:
        """Wait until every earlier ticket's `level` (syntactic | functional) verdict is known."""
        await self._until(lambda: not any(t < ticket for t in self.unjudged[level]))

    def judged(self, ticket: int, level: str) -> None:
        self.unjudged[level].discard(ticket)
        self._notify()

    async def turn(self, ticket: int) -> None:
        """Wait until this ticket's result may be recorded: every earlier one is, and every candidate that
        draws from the population before it (up to ticket + lag - 1) has drawn."""
        def ready() -> bool:
            if any(t < ticket for t in self.unsettled):
                return False
            return ticket == 0 or ticket < self.base or self.closed or self.selected >= ticket + self.lag - 1
        await self._until(ready)

    async def until_settled(self, ticket: int) -> None:
        await self._until(lambda: ticket not in self.unsettled)

    def settled(self, ticket: int) -> None:
        self.unsettled.discard(ticket)
        self._notify()

    def finish(self, ticket: int) -> None:
        """The ticket's task is over (recorded, skipped, or cancelled): nothing waits on it any more."""
        for level in self.unjudged:
            self.unjudged[level].discard(ticket)
        self.unsettled.discard(ticket)
        self.selected = max(self.selected, ticket) if ticket >= self.base else self.selected
        self._notify()

    def close(self) -> None:
        self.closed = True
        self._notify()
