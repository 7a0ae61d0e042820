"""Placement evaluators: `gpu_model_placement` (the ADRS leaderboard's prism)."""
from .prism import evaluate, probe  # noqa: F401
