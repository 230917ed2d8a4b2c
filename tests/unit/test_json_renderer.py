"""The REST API's renderer writes DRF's JSONRenderer's bytes (chat_project/common/json_renderer.py)."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from chat_project.common import json_renderer
from chat_project.common.json_renderer import FastJSONRenderer, frame_text

pytestmark = pytest.mark.unit

MESSAGE = {
    "msg_id": 9_223_372_036_854_775_807,
    "rev": 0,
    "content": 'héllo 👋 北京\n\t"quoted" \\ / \u2028 \u2029 \x00 \x1f \x7f </script>',
    "status": "normal",
    "edited_at": None,
    "reply_to": {"msg_id": 1, "preview": "", "status": "recalled"},
    "reactions": [{"user_id": 2, "emoji": "👍🏽"}],
    "attachments": [],
    "ratio": 0.1,
    "big_float": 1e21,
    "flag": True,
    "nested": [[], {}, [None, False, -1]],
}

SAMPLES = [
    MESSAGE,
    {"results": [MESSAGE] * 3, "has_more": False, "next_since": 12},
    [MESSAGE, "x", 1, None],
    {"code": "invalid_input", "detail": "The field is required.", "field": "content"},
    "a bare string",
    0,
    {},
    [],
    # Left to DRF's encoder: keys that are not strings, a datetime, a lazy
    # translation, a Decimal, an integer beyond 64 bits.
    {1: "int key", "b": 2},
    {"at": datetime.datetime(2026, 12, 7, 6, 30, 1, 123456, tzinfo=datetime.UTC)},
    {"detail": gettext_lazy("Not found.")},
    {"amount": Decimal("1.10")},
    {"huge": 2**70},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_bytes_are_drfs(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_no_data_is_an_empty_body_and_an_indent_asked_for_is_honoured():
    assert FastJSONRenderer().render(None) == b""
    indented = FastJSONRenderer().render(MESSAGE, "application/json; indent=2")
    assert indented == JSONRenderer().render(MESSAGE, "application/json; indent=2")
    assert b'\n  "msg_id"' in indented


@pytest.mark.parametrize("data", SAMPLES[:8])
def test_what_the_views_return_is_encoded_by_orjson(data, monkeypatch):
    expected = JSONRenderer().render(data)

    def not_called(*args, **kwargs):
        raise AssertionError("DRF's encoder was used")

    monkeypatch.setattr(JSONRenderer, "render", not_called)
    assert FastJSONRenderer().render(data) == expected


FRAMES = [
    {"type": "message", "message": MESSAGE, "sender": {"user_id": 2, "nickname": "Zoë", "avatar": None}},
    {"type": "unread", "conversation_id": 5, "count": 3, "total": 7},
    {"type": "read", "counts": {12: 1, 13: 0}},  # keys that are not strings
    {"type": "error", "code": "unavailable", "retry_after": 1, "client_msg_id": "\ud800"},  # a lone surrogate
    {"type": "ack", "big": 2**70},  # beyond 64 bits
    {"type": "presence", "at": datetime.datetime(2026, 12, 7, 18, 0, tzinfo=datetime.UTC)},  # not JSON at all
]


@pytest.mark.parametrize("frame", FRAMES[:5], ids=["message", "unread", "int-keys", "surrogate", "big-int"])
def test_a_frame_is_the_json_the_standard_library_writes(frame):
    text = frame_text(frame)
    assert json.loads(text) == json.loads(json.dumps(frame, ensure_ascii=False))
    text.encode()  # daphne sends it as UTF-8: a lone surrogate must be written escaped
    assert ": " not in text.replace(MESSAGE["content"], "")  # compact


def test_a_frame_orjson_writes_is_the_fast_path_and_what_json_cannot_hold_still_fails(monkeypatch):
    calls = []
    monkeypatch.setattr(json_renderer.json, "dumps", lambda *a, **k: calls.append(a) or "{}")
    frame_text(FRAMES[0])
    frame_text(FRAMES[2])
    assert calls == []
    frame_text(FRAMES[3])
    assert len(calls) == 1  # orjson refuses a lone surrogate: the standard library writes it
    monkeypatch.undo()
    with pytest.raises(TypeError):
        frame_text(FRAMES[5])
