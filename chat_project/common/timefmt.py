from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """PROTOCOL.md's time format: ISO 8601, UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
