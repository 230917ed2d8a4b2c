"""Reconnect delays: Centrifugo's full jitter on top of a floor (centrifuge-js ``backoff()``)."""

import random

MIN_DELAY = 0.5
MAX_DELAY = 20.0


def backoff(
    attempt: int, min_delay: float = MIN_DELAY, max_delay: float = MAX_DELAY, rng: random.Random | None = None
) -> float:
    """``min(max, min + U(0, min(max, min·2^n)))`` seconds before reconnect attempt ``n`` (0-based).

    The floor keeps a fleet of clients from hammering a server that just came
    back; the jitter spreads them; the cap bounds the wait. ``n`` is capped at
    31 so the power never overflows.
    """
    step = min(max(attempt, 0), 31)
    jitter = (rng or random).uniform(0, min(max_delay, min_delay * 2**step))
    return min(max_delay, min_delay + jitter)


def restart_delay(rng: random.Random | None = None) -> float:
    """After a 1012 close (a restart, a drained node): a short random delay, another node answers."""
    return (rng or random).uniform(0.05, 1.0)
