"""Command-line value types checked before anything runs: a bad value is one paragraph and exit 2."""
from __future__ import annotations

import argparse
import re
import sys

from evolve.problem import parse_duration

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Parser(argparse.ArgumentParser):
    """argparse with errors in evolve's style: one paragraph that names the flag and the fix, exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        sys.stderr.write(f"error: {self.prog}: {message}. See `{self.prog} --help`.\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    if not str(text).strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number; give e.g. 50")
    return int(text)


def count(text: str) -> int:
    """A whole number, 0 or more (e.g. --limit, where 0 means all)."""
    if not str(text).strip().isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (0 or more); give e.g. 20")
    return int(text)


def duration(text: str) -> float:
    """A positive duration: 90s, 30m, 4h, 1d or seconds."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive duration; write e.g. 90s, 30m, 4h or 1d")
    return seconds


def run_name(text: str) -> str:
    """A run name: it becomes a folder under runs/, so letters, digits, '.', '_' and '-' only."""
    if not RUN_NAME.fullmatch(text) or len(text) > 200:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a usable run name; use letters, digits, '.', '_' and '-' (starting with a "
            "letter or digit, at most 200 characters), e.g. cache-lfu-1")
    return text
