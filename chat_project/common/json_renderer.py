"""The REST API's JSON: what DRF's ``JSONRenderer`` writes, byte for byte, encoded by orjson.

Serving ``sync`` pages (500 messages, 179 KB) from the 10-million-message
set, the standard library's encoder was 11 % of a daphne's samples (py-spy,
docs/benchmarks.md, "Warm reads at 10 million messages"). orjson writes the
same bytes for what the views return (str, int, float, bool, None, lists
and dicts with str keys) at a fraction of the cost. For anything else it
would write differently or not at all (a key that is not a string, a
datetime, a lazy translation, a Decimal, an integer beyond 64 bits) and for
an ``indent`` asked for, DRF's own encoder writes the answer, as before.
"""

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
