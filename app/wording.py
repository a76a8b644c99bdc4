"""Small pieces of the sentences mmrag says to people, shared by the CLI and the API."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """`1 page`, `2 pages`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
