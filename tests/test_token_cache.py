"""The remembered API token: no SQL on the warm path, and never a way around a revocation."""

from rest_framework.authtoken.models import Token

from profiles.models import User


def test_a_warm_request_authenticates_without_sql(alice, django_assert_max_num_queries):
    assert alice.get("unread").status_code == 200  # remembers the token
    with django_assert_max_num_queries(0):
        assert alice.get("unread").status_code == 200


def test_me_reads_and_writes_the_real_row_through_a_remembered_token(alice):
    alice.get("unread")
    assert alice.get("me").json()["username"] == "alice"
    changed = alice.patch("me", {"nickname": "Alice B."})
    assert changed.status_code == 200 and changed.json()["nickname"] == "Alice B."
    user = User.objects.get(pk=alice.id)
    assert user.nickname == "Alice B." and user.check_password("correct-horse-battery")


def test_a_deactivated_user_is_refused_at_once(alice, bob):
    assert alice.get("unread").status_code == 200
    user = User.objects.get(pk=alice.id)
    user.is_active = False
    user.save()
    response = alice.get("unread")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_deleted_token_is_refused_at_once(alice):
    assert alice.get("unread").status_code == 200
    Token.objects.filter(key=alice.token).delete()
    assert alice.get("unread").status_code == 401


def test_an_unknown_token_is_refused_and_not_remembered(anonymous, alice):
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert anonymous.get("/api/v1/unread").status_code == 401
    assert anonymous.get("/api/v1/unread").status_code == 401


def test_the_tokens_of_sockets_opening_together_are_read_in_one_query_and_remembered(
    alice, bob, carol, django_assert_num_queries
):
    from chat_project.ws_auth import users_for_tokens
    from profiles import store

    store.forget_tokens([alice.token, bob.token, carol.token])
    assert alice.get("unread").status_code == 200  # remembers alice's token
    User.objects.filter(pk=carol.id).update(is_active=False)
    unknown = "1" * 40
    keys = [alice.token, bob.token, unknown, carol.token, bob.token]
    with django_assert_num_queries(1):  # bob's and carol's tokens (and the unknown one), together
        users = users_for_tokens(keys)
    assert [getattr(u, "pk", None) for u in users] == [alice.id, bob.id, None, carol.id, bob.id]
    assert users[2].is_authenticated is False
    assert users[3].is_active is False  # the consumer closes it with 4401
    # bob's token is remembered now, the inactive user's and the unknown one are not.
    assert store.cached_token_users(keys) == {alice.token: alice.id, bob.token: bob.id}
    with django_assert_num_queries(0):
        assert [u.pk for u in users_for_tokens([bob.token, alice.token])] == [bob.id, alice.id]
