"""autobahn's debug-log arguments are built only when formatted (chat_project/autobahn_logs.py)."""

from pprint import pformat
from string import Formatter

import pytest
from autobahn.twisted import websocket as twisted_websocket
from autobahn.util import hltype, hlval
from autobahn.websocket import protocol

from chat_project.autobahn_logs import Lazy, defer_autobahn_log_arguments, lazy

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


def test_a_new_connection_no_longer_pretty_prints_its_options_for_a_debug_line_nobody_writes():
    defer_autobahn_log_arguments()
    options = [("openHandshakeTimeout", 5, "WebSocketServerFactory"), ("autoPingInterval", 0, "WebSocketServerFactory")]
    deferred = protocol.pformat(options)
    assert isinstance(deferred, Lazy)
    assert Formatter().format("\n{attrs}", attrs=deferred) == "\n" + pformat(options)


def test_timings_still_print_as_text():
    defer_autobahn_log_arguments()
    timings = protocol.Timings()
    timings.track("onOpen")
    text = str(timings)
    assert isinstance(text, str) and "onOpen" in text
