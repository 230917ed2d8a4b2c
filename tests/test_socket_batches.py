"""Sockets opening and closing at once share their presence work (messaging/socket_batches.py):
what their users' watchers hear is what one socket at a time gave them."""

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


def test_sockets_opening_and_closing_at_once_tell_watchers_each_user_once(start_daphne, make_user):
    server = start_daphne()
    watcher_user = make_user("watcher")
    watcher = server.socket(watcher_user.token)
    watcher.expect("ready")
    users = [make_user(f"crowd{i}") for i in range(15)]
    watcher.send({"type": "watch", "user_ids": [u.id for u in users]})
    for user in users:
        assert watcher.expect("presence", user_id=user.id)["online"] is False

    def open_ready(user):
        sock = server.socket(user.token)
        assert sock.expect("ready")["user_id"] == user.id
        return sock

    with ThreadPoolExecutor(30) as pool:
        # Two sockets a user, all opening at once.
        sockets = list(pool.map(open_ready, users + users))
        online = [f for f in watcher.drain(1.5) if f["type"] == "presence"]
        assert sorted(f["user_id"] for f in online) == sorted(u.id for u in users)
        assert all(f["online"] for f in online)
        for user in users:
            assert watcher_user.get(f"users/{user.id}").json()["online"] is True

        # One socket of each user closes: nobody went offline.
        list(pool.map(lambda s: s.close(), sockets[: len(users)]))
        assert not [f for f in watcher.drain(1.5) if f["type"] == "presence"]
        # Then the other: each user goes offline once, with the last_seen their profile shows.
        list(pool.map(lambda s: s.close(), sockets[len(users) :]))
    offline = [f for f in watcher.drain(1.5) if f["type"] == "presence"]
    assert sorted(f["user_id"] for f in offline) == sorted(u.id for u in users)
    for frame in offline:
        assert frame["online"] is False
        profile = watcher_user.get(f"users/{frame['user_id']}").json()
        assert profile["online"] is False and profile["last_seen"] == frame["last_seen"] is not None
