"""The search core: the loop, the population, selection, scoring, dedup and the proposers."""
