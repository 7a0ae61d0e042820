"""Scheduling problem family: deadline-aware spot scheduling and transaction scheduling.

Evaluators (named in the problems' YAML): `evaluators.scheduling.spot` and
`evaluators.scheduling.txn`, each with `evaluate(program_path, workload)` and `probe(...)`.
"""
