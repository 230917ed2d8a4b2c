"""Autobahn's debug-log arguments, built only when a debug line is written.

daphne's WebSocket protocol is autobahn's, which logs each chunk it reads and
each frame it writes at debug level, and builds the line's arguments first:
``hltype(self.dataReceived)`` and ``hlval(self.peer)`` name the method and
colour it with click, on every call, whether debug is on or not. Under the
bench's overload minute that was 4-8 % of a daphne's samples (py-spy:
``hl`` 4.1-4.7 %, ``hltype`` 3.7 %; docs/benchmarks.md, "Overload"), for log
lines nobody writes. Likewise each new connection pretty-prints its 29
options (``pformat``, 0.25 ms on the event loop) for a debug line: in a
reconnect storm, every attempt pays it. The functions, as autobahn's modules
imported them, are replaced by ones that keep their arguments and build the
same text only when the logger formats it (as autobahn's own
``_LazyHexFormatter`` does for data).

The autobahn version comes with daphne (pinned in requirements.txt); a
version without these names is left as it is.
"""

import importlib
from collections.abc import Callable
from typing import Any

# autobahn's modules on daphne's path, and the helpers each imported by name whose text only debug lines use.
HELPERS = {
    "autobahn.websocket.protocol": ("hltype", "hlval", "pformat"),
    "autobahn.twisted.websocket": ("hltype", "hlval"),
}


class Lazy:
    """``function(*args)``, called when formatted (``str``, ``format``), not when made."""

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., str], args: tuple) -> None:
        self.function = function
        self.args = args

    def __str__(self) -> str:
        return self.function(*self.args)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def lazy(function: Callable[..., str]) -> Callable[..., Lazy]:
    def deferred(*args: Any) -> Lazy:
        return Lazy(function, args)

    deferred.original = function  # type: ignore[attr-defined]
    return deferred


def defer_autobahn_log_arguments() -> None:
    for name, helpers in HELPERS.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for helper in helpers:
            current = getattr(module, helper, None)
            if callable(current) and not hasattr(current, "original"):
                setattr(module, helper, lazy(current))
        timings = getattr(module, "Timings", None)
        pformat = getattr(getattr(module, "pformat", None), "original", None)
        if timings is not None and pformat is not None:
            # The one use of pformat that is not a log argument: str() must return a str.
            timings.__str__ = _timings_text(pformat)


def _timings_text(pformat: Callable[[Any], str]) -> Callable[[Any], str]:
    def text(timings: Any) -> str:
        return pformat(timings._timings)

    return text
