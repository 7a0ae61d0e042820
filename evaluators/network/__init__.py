"""Network evaluators: `cloudcast` (broadcast from one cloud region to many)."""
from .cloudcast import evaluate, probe  # noqa: F401
