"""Typed readers for settings that come from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be on/off, got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def sentinel_layer_hosts(name: str, sentinels: list[str], masters: list[str], **options) -> list[dict]:
    """channels-redis ``hosts``: one Sentinel-managed master per shard, in the order given.

    ``sentinels`` are ``host:port`` strings; ``options`` go to every connection
    (channels_redis.utils.create_pool turns a dict with ``master_name`` into a
    SentinelConnectionPool and passes the other keys on).
    """
    try:
        addresses = [(h.rsplit(":", 1)[0].strip("[]"), int(h.rsplit(":", 1)[1])) for h in sentinels]
    except (IndexError, ValueError):
        raise ImproperlyConfigured(f"{name} must be host:port,host:port,..., got {sentinels!r}") from None
    return [
        {
            "sentinels": addresses,
            "master_name": master,
            # A sentinel that does not answer is skipped quickly.
            "sentinel_kwargs": {"socket_timeout": 2, "socket_connect_timeout": 2},
            **options,
        }
        for master in masters
    ]


def parse_rate(name: str, raw: str) -> tuple[int, int]:
    """Parse a rate such as ``30/10s``, ``10/min`` or ``1000/h`` into (count, seconds)."""
    units = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
    try:
        count_text, period = raw.strip().split("/", 1)
        count = int(count_text)
        digits = "".join(ch for ch in period if ch.isdigit())
        unit = period[len(digits) :] or "s"
        seconds = int(digits or 1) * units[unit]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"{name} must look like 30/10s or 10/min, got {raw!r}") from None
    if count < 1 or seconds < 1:
        raise ImproperlyConfigured(f"{name} must be positive, got {raw!r}")
    return count, seconds
