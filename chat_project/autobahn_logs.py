"""Autobahn's debug-log arguments, built only when a debug line is written.

daphne's WebSocket protocol is autobahn's, which logs each chunk it reads and
each frame it writes at debug level, and builds the line's arguments first:
``hltype(self.dataReceived)`` and ``hlval(self.peer)`` name the method and
colour it with click, on every call, whether debug is on or not. Under the
bench's overload minute that was 4-8 % of a daphne's samples (py-spy:
``hl`` 4.1-4.7 %, ``hltype`` 3.7 %; docs/benchmarks.md, "Overload"), for log
lines nobody writes. The two functions, as autobahn's modules imported
them, are replaced by ones that keep their arguments and build the same text
only when the logger formats it (as autobahn's own ``_LazyHexFormatter``
does for data).

The autobahn version comes with daphne (pinned in requirements.txt); a
version without these names is left as it is.
"""

import importlib
from collections.abc import Callable
from typing import Any

# autobahn's modules on daphne's path that import hltype and hlval by name.
MODULES = ("autobahn.websocket.protocol", "autobahn.twisted.websocket")


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
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for helper in ("hltype", "hlval"):
            current = getattr(module, helper, None)
            if callable(current) and not hasattr(current, "original"):
                setattr(module, helper, lazy(current))
