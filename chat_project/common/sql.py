"""Small helpers for the statements written out in SQL (where the ORM's building cost too much)."""

from collections.abc import Sized


def marks(values: Sized) -> str:
    """``%s,%s,…``: one placeholder per value, for ``IN (…)``."""
    return ",".join(["%s"] * len(values))
