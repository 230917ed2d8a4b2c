"""Accounts and authentication: register, token, invalid and deactivated tokens, session auth with CSRF."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from .conftest import API, PASSWORD
from .helpers import (
    assert_error,
    assert_int_id,
    assert_message,
    assert_profile,
    conversation_ids,
    deactivate,
    raw_request,
)

# --- register ------------------------------------------------------------------


def test_register_answers_user_id_and_a_working_token(anonymous, transactional_db):
    response = anonymous.post(
        API + "auth/register", {"username": "dora", "password": PASSWORD, "nickname": "Dora"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert_int_id(body["user_id"])
    assert isinstance(body["token"], str) and body["token"]
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    me = anonymous.get(API + "me")
    assert me.status_code == 200
    assert_profile(me.json(), user_id=body["user_id"], username="dora", nickname="Dora", avatar_url="", online=False)


def test_register_without_nickname_is_allowed(anonymous, transactional_db):
    response = anonymous.post(API + "auth/register", {"username": "eve", "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content


def test_register_duplicate_username_is_validation_error(alice, anonymous):
    response = anonymous.post(
        API + "auth/register", {"username": "alice", "password": PASSWORD, "nickname": "Other"}, format="json"
    )
    assert_error(response, 400, "validation_error", "username")


@pytest.mark.parametrize("password", ["123", "password", "12345678901234"])
def test_register_weak_password_is_validation_error(anonymous, transactional_db, password):
    response = anonymous.post(
        API + "auth/register", {"username": "frank", "password": password, "nickname": "F"}, format="json"
    )
    assert_error(response, 400, "validation_error", "password")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": PASSWORD, "nickname": "G"}, "username"),
        ({"username": "gina", "nickname": "G"}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": 12, "password": PASSWORD}, "username"),
        ({"username": "gina", "password": PASSWORD, "nickname": 5}, "nickname"),
        ({"username": "gina", "password": PASSWORD, "nickname": "n" * 65}, "nickname"),
        ({"username": "gina\ud800", "password": PASSWORD}, "username"),
        ({"username": "gina", "password": PASSWORD + "\udfff"}, "password"),
        ({"username": "gina", "password": PASSWORD, "nickname": "\ud83d"}, "nickname"),
    ],
)
def test_register_missing_or_bad_fields_are_validation_errors(anonymous, transactional_db, body, field):
    response = raw_request(anonymous, "POST", "auth/register", json.dumps(body))
    assert_error(response, 400, "validation_error", field)


# --- token ---------------------------------------------------------------------


def test_token_answers_the_user_and_a_working_token(alice, anonymous):
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_id"] == alice.id
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + body["token"])
    assert anonymous.get(API + "me").json()["user_id"] == alice.id


@pytest.mark.parametrize("username, password", [("alice", "wrong-password-123"), ("nobody", PASSWORD), ("alice", "")])
def test_token_with_wrong_credentials_is_not_authenticated(alice, anonymous, username, password):
    response = anonymous.post(API + "auth/token", {"username": username, "password": password}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_token_for_a_deactivated_user_is_not_authenticated(alice, anonymous):
    deactivate(alice)
    response = anonymous.post(API + "auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "alice"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": 1, "password": PASSWORD}, "username"),
        ({"username": "alice\ud800", "password": PASSWORD}, "username"),
        ({"username": "alice", "password": "\ud800" + PASSWORD}, "password"),
    ],
)
def test_token_missing_or_malformed_fields_are_validation_errors(alice, anonymous, body, field):
    response = raw_request(anonymous, "POST", "auth/token", json.dumps(body))
    assert_error(response, 400, "validation_error", field)


def test_an_invalid_token_is_not_authenticated(alice, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert_error(anonymous.get(API + "me"), 401, "not_authenticated")


def test_a_deactivated_users_token_stops_working(alice):
    deactivate(alice)
    assert_error(alice.get("me"), 401, "not_authenticated")


# --- session (browser) authentication ------------------------------------------


def test_session_authentication_needs_csrf_for_writes(alice, bob):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(pk=alice.id))
    me = browser.get(API + "me")
    assert me.status_code == 200 and me.json()["user_id"] == alice.id

    body = {"to": bob.id, "content": "from the browser"}
    assert_error(browser.post(API + "messages", body, format="json"), 403, "forbidden")
    assert conversation_ids(bob) == []

    csrf = get_random_string(32)
    browser.cookies["csrftoken"] = csrf
    response = browser.post(API + "messages", body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    assert_message(response.json(), sender_id=alice.id, content="from the browser")
