"""`evolve bench`: a suite of problems x arms x seeds run as ordinary runs in one database, and its table.

suite.py (the suite file), manifest.py (the bench on disk), execute.py (the runs, K processes at a
time, resumable), progress.py (the live view), results.py (what each run reached), table.py (per
problem and arm, references, tests between arms), stats.py, references.py, plots.py, render.py,
command.py (the CLI).
"""
