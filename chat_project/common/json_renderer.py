"""The REST API's JSON: what DRF's ``JSONRenderer`` writes, byte for byte, encoded by orjson.

Serving ``sync`` pages (500 messages, 179 KB) from the 10-million-message
set, the standard library's encoder was 11 % of a daphne's samples (py-spy,
docs/benchmarks.md, "Warm reads at 10 million messages"). orjson writes the
same bytes for what the views return (str, int, float, bool, None, lists
and dicts with str keys) at a fraction of the cost. For anything else it
would write differently or not at all (a key that is not a string, a
datetime, a lazy translation, a Decimal, an integer beyond 64 bits) and for
an ``indent`` asked for, DRF's own encoder writes the answer, as before.

The WebSocket's frames are encoded here too (``frame_text``): at 200 msgs/s
the standard library's ``json.dumps`` of each ack and push was 4.2 % of a
daphne's samples holding the interpreter (py-spy ``--gil``,
docs/benchmarks.md). Frames are compact JSON (no spaces after the
separators); what orjson refuses goes to the standard library, as before.
"""

import json
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

# DRF escapes these two so that its JSON is also valid JavaScript; orjson writes them as they are.
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is left to DRF's encoder")


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is not None and self.get_indent(accepted_media_type or "", renderer_context or {}) is None:
            try:
                encoded = orjson.dumps(data, default=_refuse, option=orjson.OPT_PASSTHROUGH_DATETIME)
            except TypeError:
                pass  # orjson.JSONEncodeError is one
            else:
                return encoded.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return super().render(data, accepted_media_type, renderer_context)


# Keys that are not strings (a conversation id) written as the standard library writes them: "12".
_FRAME_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def frame_text(frame: dict) -> str:
    """A WebSocket frame's JSON text: orjson's, or the standard library's for what orjson refuses (same JSON).

    The standard library escapes every non-ASCII character there: orjson refuses
    a lone surrogate (an id a client sent as ``"\\ud800"``, echoed in its error),
    which has no UTF-8 and, written as is, failed the socket when daphne encoded it.
    """
    try:
        return orjson.dumps(frame, default=_refuse, option=_FRAME_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(frame, separators=(",", ":"))
