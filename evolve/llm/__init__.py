"""Calling language models: litellm client with retries, model ensemble and bandit, cost ledger,
preflight checks, and a local fake server for tests and dry runs. litellm is imported lazily."""
