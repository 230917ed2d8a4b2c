"""The client guide a clone carries (README.md, docs/) says one thing, and only points at what the clone holds."""

import re

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.unit

GUIDES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLIENT_GUIDES = [ROOT / "docs" / "api.md", ROOT / "docs" / "websocket.md"]


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_relative_link_and_named_contract_exists_in_the_clone(guide):
    text = guide.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        assert (guide.parent / target).exists(), f"{guide.name} links to {target}, which a clone lacks"
    # The shared PROTOCOL.md lives beside the project, not in a clone.
    assert "PROTOCOL.md" not in text, f"{guide.name} sends readers to a PROTOCOL.md a clone does not have"


@pytest.mark.parametrize("guide", CLIENT_GUIDES, ids=lambda p: p.name)
def test_the_sync_rules_are_the_ones_the_server_follows(guide):
    text = " ".join(guide.read_text().split())
    # What the server does: ids in commit order per user, next_since the page's last id.
    assert "commit order" in text
    assert "sync/position" in text
    # The old, contradicting advice is gone; the 1.1 full-page rule is kept for clients written for it.
    assert "never from the largest" not in text
    assert "handed out before" not in text
    assert "full-page rule" in text
    assert "offline/ack" in text


@pytest.mark.parametrize("guide", CLIENT_GUIDES, ids=lambda p: p.name)
def test_presence_timing_and_close_codes_are_stated_alike(guide):
    text = " ".join(guide.read_text().split())
    assert "within 70 s" in text
    assert "plus 30 s" not in text.replace("the TTL plus 30 s)", "")
    for code in ("4401", "1009", "1012", "1006"):
        assert f"| {code}" in text, code


def test_the_served_schema_describes_sync_the_same_way():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    sync = schema["paths"]["/api/v1/sync"]["get"]
    since = next(p for p in sync["parameters"] if p["name"] == "since")
    text = " ".join((sync["description"] + " " + since["description"]).split())
    assert "commit order" in text
    assert "sync/position" in text
    assert "never from the largest" not in text
    assert "/api/v1/sync/position" in schema["paths"]
