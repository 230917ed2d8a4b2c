"""The declared bodies of the account and profile endpoints (profiles/inputs.py): parsing and their schema."""

import pytest

from chat_project.common.errors import InvalidInput
from chat_project.common.inputs import REQUIRED
from profiles.inputs import (
    LOGIN,
    PROFILE_UPDATE,
    REGISTER,
    UNCHANGED,
    USERNAME_CHARACTERS,
    Login,
    ProfileUpdate,
    Register,
    parse_profile_update,
)

pytestmark = pytest.mark.unit

PASSWORD = "correct-horse-battery"


def parse_error(declaration, data: dict) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        declaration.parse(data)
    return caught.value


def test_a_register_body_parses_into_clean_values():
    assert REGISTER.parse({"username": "alice", "password": PASSWORD}) == Register("alice", PASSWORD, "")
    parsed = REGISTER.parse({"username": "Ålice.b+c@d-e_f", "password": f" {PASSWORD} ", "nickname": "  Al  "})
    # The password is taken as sent; the nickname is trimmed.
    assert parsed == Register("Ålice.b+c@d-e_f", f" {PASSWORD} ", "Al")


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"password": PASSWORD}, "username", REQUIRED),
        ({"username": "gina"}, "password", REQUIRED),
        ({"username": "", "password": PASSWORD}, "username", "This field may not be blank."),
        ({"username": "has space", "password": PASSWORD}, "username", USERNAME_CHARACTERS),
        ({"username": " gina", "password": PASSWORD}, "username", USERNAME_CHARACTERS),
        ({"username": "gi/na", "password": PASSWORD}, "username", USERNAME_CHARACTERS),
        ({"username": 12, "password": PASSWORD}, "username", "Must be a string."),
        ({"username": "g" * 151, "password": PASSWORD}, "username", "At most 150 characters."),
        ({"username": "gina\ud800", "password": PASSWORD}, "username", "Must not contain unpaired surrogates."),
        ({"username": "gina", "password": PASSWORD + "\x00"}, "password", "Must not contain NUL characters."),
        ({"username": "gina", "password": "   "}, "password", "This field may not be blank."),
        ({"username": "gina", "password": "p" * 129}, "password", "At most 128 characters."),
        ({"username": "gina", "password": PASSWORD, "nickname": None}, "nickname", "Must be a string."),
        ({"username": "gina", "password": PASSWORD, "nickname": "n" * 65}, "nickname", "At most 64 characters."),
    ],
)
def test_a_bad_register_field_is_named_with_its_message(body, field, message):
    error = parse_error(REGISTER, body)
    assert error.errors == {field: [message]}
    assert error.detail == message  # one problem: the detail is its message


def test_every_broken_register_field_is_reported_at_once():
    error = parse_error(REGISTER, {"username": "has space", "password": 12345678, "nickname": "n" * 65})
    assert error.errors == {
        "username": [USERNAME_CHARACTERS],
        "password": ["Must be a string."],
        "nickname": ["At most 64 characters."],
    }
    assert error.detail == "Invalid input."
    assert parse_error(REGISTER, {}).errors == {"username": [REQUIRED], "password": [REQUIRED]}


def test_a_login_body_takes_any_strings_the_hasher_can_take():
    assert LOGIN.parse({"username": "alice", "password": ""}) == Login("alice", "")
    assert LOGIN.parse({"username": " x y ", "password": " "}) == Login(" x y ", " ")
    # Missing or not a string: required, as the API always answered.
    assert parse_error(LOGIN, {"username": 1}).errors == {"username": [REQUIRED], "password": [REQUIRED]}
    assert parse_error(LOGIN, {"username": "alice", "password": None}).errors == {"password": [REQUIRED]}
    error = parse_error(LOGIN, {"username": "alice\ud800", "password": "\udfff"})
    assert error.errors == {
        "username": ["Must not contain unpaired surrogates."],
        "password": ["Must not contain unpaired surrogates."],
    }


def test_a_profile_update_leaves_absent_fields_unchanged():
    assert PROFILE_UPDATE.parse({}) == ProfileUpdate(UNCHANGED, UNCHANGED)
    assert PROFILE_UPDATE.parse({"nickname": " Al "}) == ProfileUpdate("Al", UNCHANGED)
    assert PROFILE_UPDATE.parse({"avatar_url": ""}) == ProfileUpdate(UNCHANGED, "")
    assert PROFILE_UPDATE.parse({"avatar_url": " https://example.com/a.png "}).avatar_url == "https://example.com/a.png"


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"avatar_url": "not a url"}, "avatar_url", "Must be an http(s) URL."),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url", "Must be an http(s) URL."),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url", "Must be an http(s) URL."),
        ({"avatar_url": "/media/avatars/7/x.png"}, "avatar_url", "Must be an http(s) URL."),
        ({"avatar_url": 7}, "avatar_url", "Must be a string."),
        ({"avatar_url": "https://example.com/" + "a" * 500}, "avatar_url", "At most 500 characters."),
        ({"nickname": None}, "nickname", "Must be a string."),
        ({"nickname": "n" * 65}, "nickname", "At most 64 characters."),
        ({"nickname": "a\x00b"}, "nickname", "Must not contain NUL characters."),
    ],
)
def test_a_bad_profile_field_is_named_with_its_message(body, field, message):
    assert parse_error(PROFILE_UPDATE, body).errors == {field: [message]}


def test_sending_back_the_current_avatar_url_keeps_it():
    current = "/media/avatars/7/q3Jx0bW2tE1mZk9RfA8cLpVn.png"  # relative: not an http(s) URL
    assert parse_profile_update({"avatar_url": current}, lambda: current) == ProfileUpdate(UNCHANGED, UNCHANGED)
    with pytest.raises(InvalidInput):
        parse_profile_update({"avatar_url": "/media/avatars/8/other.png"}, lambda: current)
    # No avatar: "" clears as usual (and still counts as given).
    assert parse_profile_update({"avatar_url": ""}, lambda: "") == ProfileUpdate(UNCHANGED, "")

    def not_asked() -> str:
        raise AssertionError("the current avatar is read only when the body names avatar_url")

    assert parse_profile_update({"nickname": "Al"}, not_asked) == ProfileUpdate("Al", UNCHANGED)


def test_the_schema_serializers_come_from_the_declarations():
    register = REGISTER.serializer()
    assert register.__name__ == "RegisterSerializer"
    fields = register().fields
    assert {name: field.required for name, field in fields.items()} == {
        "username": True,
        "password": True,
        "nickname": False,
    }
    assert (fields["username"].max_length, fields["password"].min_length, fields["password"].max_length) == (
        150,
        8,
        128,
    )
    assert fields["nickname"].max_length == 64
    assert {name: field.required for name, field in LOGIN.serializer()().fields.items()} == {
        "username": True,
        "password": True,
    }
    update = PROFILE_UPDATE.serializer()
    assert update.__name__ == "ProfileUpdateSerializer"
    assert {name: field.required for name, field in update().fields.items()} == {
        "nickname": False,
        "avatar_url": False,
    }
