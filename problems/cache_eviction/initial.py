"""Cache eviction policy, written as a priority function.

The cache calls `priority` on every access of an object (a hit, or an insert
after a miss) and, when it is full, evicts the object with the lowest
priority. Arguments:
  now         index of this request in the trace (0, 1, 2, ...)
  hits        accesses since the object entered the cache (1 on insert)
  total_hits  accesses of the object ever, this one included
  last_gap    requests since the object's previous access, -1 if never seen
  floor       priority of the most recently evicted object (0 at first)
Return a finite number. This starting policy is LRU: priority = time of access.
"""


def priority(now, hits, total_hits, last_gap, floor):
    # EVOLVE-BLOCK-START
    recency = 1.0
    frequency = 0.0
    aging = 0.0
    score = recency * now + frequency * total_hits + aging * floor
    return score
    # EVOLVE-BLOCK-END
