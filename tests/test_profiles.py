"""Profiles and users over REST: GET and PATCH me, users/{id}, user search."""

import json

import pytest

from .helpers import assert_error, assert_profile, raw_request

# --- me ------------------------------------------------------------------------


def test_me_is_the_own_profile(alice):
    response = alice.get("me")
    assert response.status_code == 200
    assert_profile(response.json(), alice, nickname="Alice", avatar_url="", online=False)


def test_patch_me_changes_nickname_and_avatar(alice):
    response = alice.patch("me", {"nickname": "Ally", "avatar_url": "https://example.com/a.png"})
    assert response.status_code == 200, response.content
    assert_profile(response.json(), alice, nickname="Ally", avatar_url="https://example.com/a.png")
    assert_profile(alice.get("me").json(), alice, nickname="Ally", avatar_url="https://example.com/a.png")
    # Only what is sent changes; an empty avatar_url unsets it.
    response = alice.patch("me", {"avatar_url": ""})
    assert_profile(response.json(), alice, nickname="Ally", avatar_url="")
    assert_profile(alice.patch("me", {}).json(), alice, nickname="Ally", avatar_url="")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"avatar_url": "not a url"}, "avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"avatar_url": 7}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 500}, "avatar_url"),
        ({"nickname": None}, "nickname"),
        ({"nickname": "n" * 65}, "nickname"),
        ({"nickname": "a\u0000b"}, "nickname"),
        ({"nickname": "half \ud83d"}, "nickname"),
        ({"avatar_url": "https://example.com/\udc4b.png"}, "avatar_url"),
    ],
)
def test_patch_me_rejects_bad_values(alice, body, field):
    # json.dumps escapes lone surrogates, so they reach the server as JSON sends them.
    assert_error(raw_request(alice.client, "PATCH", "me", json.dumps(body)), 400, "validation_error", field)
    assert_profile(alice.get("me").json(), alice, nickname="Alice", avatar_url="")


def test_patch_me_is_seen_by_other_users(alice, bob):
    # bob reads alice's profile first, so it sits in the profile cache.
    assert_profile(bob.get(f"users/{alice.id}").json(), alice, nickname="Alice", avatar_url="")
    alice.send(bob, "hi")
    assert bob.get("conversations").json()["results"][0]["peer"]["nickname"] == "Alice"

    alice.patch("me", {"nickname": "Queen A", "avatar_url": "https://example.com/q.png"})

    profile = bob.get(f"users/{alice.id}").json()
    assert_profile(profile, alice, nickname="Queen A", avatar_url="https://example.com/q.png")
    peer = bob.get("conversations").json()["results"][0]["peer"]
    assert_profile(peer, alice, nickname="Queen A", avatar_url="https://example.com/q.png")


# --- users ---------------------------------------------------------------------


def test_get_user_by_id(alice, bob):
    response = alice.get(f"users/{bob.id}")
    assert response.status_code == 200
    assert_profile(response.json(), bob, nickname="Bob", avatar_url="", online=False)


@pytest.mark.parametrize("user_id", ["0", "987654321", str(2**53 + 1), str(2**63), "9" * 40])
def test_unknown_user_is_not_found(alice, user_id):
    assert_error(alice.get(f"users/{user_id}"), 404, "not_found")


def test_user_search_is_a_case_insensitive_prefix_on_username_and_nickname(alice, bob, make_user):
    alfred = make_user("alfred", "Zed")
    zora = make_user("zora", "Alina")
    make_user("malia", "Mal")

    response = bob.get("users", {"q": "AL"})
    assert response.status_code == 200
    results = response.json()["results"]
    for profile in results:
        assert_profile(profile)
    assert {p["user_id"] for p in results} == {alice.id, alfred.id, zora.id}

    assert [p["user_id"] for p in bob.get("users", {"q": "zE"}).json()["results"]] == [alfred.id]
    # A substring that is not a prefix does not match.
    assert bob.get("users", {"q": "lic"}).json()["results"] == []


def test_user_search_answers_at_most_20(alice, make_user):
    for n in range(23):
        make_user(f"user{n:02d}", "")
    results = alice.get("users", {"q": "user"}).json()["results"]
    assert len(results) == 20
    assert all(p["username"].startswith("user") for p in results)
    assert len({p["user_id"] for p in results}) == 20
