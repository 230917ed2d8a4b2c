"""autobahn's debug-log arguments are built only when formatted (chat_project/autobahn_logs.py)."""

from string import Formatter

import pytest
from autobahn.twisted import websocket as twisted_websocket
from autobahn.util import hltype, hlval
from autobahn.websocket import protocol

from chat_project.autobahn_logs import defer_autobahn_log_arguments, lazy

pytestmark = pytest.mark.unit


def test_a_deferred_argument_formats_as_the_original_and_is_built_only_then():
    calls = []

    def named(value):
        calls.append(value)
        return f"<{value}>"

    deferred = lazy(named)("peer")
    assert calls == []
    assert f"{deferred}" == "<peer>" and str(deferred) == "<peer>"
    assert calls == ["peer", "peer"]


def test_autobahns_modules_get_deferred_helpers_that_write_the_same_text():
    defer_autobahn_log_arguments()
    defer_autobahn_log_arguments()  # twice is once
    for module in (protocol, twisted_websocket):
        assert module.hltype.original is hltype
        assert module.hlval.original is hlval
        method = protocol.WebSocketProtocol.sendData
        assert str(module.hltype(method)) == hltype(method)
        # Twisted's logger formats an event's fields with a string.Formatter.
        assert Formatter().format("{v}", v=module.hlval(1234)) == hlval(1234)
