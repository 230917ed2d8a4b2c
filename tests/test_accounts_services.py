"""Logging in and registering (profiles/accounts.py): one service each, for the API and the pages.

Each service counts the attempt against its per-address budget before it
reads anything, so ``auth/token`` and the login page share one budget, as do
``auth/register`` and the sign-up page; the declared bodies (profiles/inputs.py)
report every broken field at once.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from chat_project.common.errors import InvalidInput, RateLimited
from profiles import accounts
from profiles.inputs import Login, Register

from .conftest import API, PASSWORD
from .helpers import assert_error, avoid_window_edge, deactivate


def logged_in_user_id(browser: Client) -> int | None:
    value = browser.session.get("_auth_user_id")
    return int(value) if value is not None else None


def token_request(client: APIClient, username: str, password: str):
    return client.post(API + "auth/token", {"username": username, "password": password}, format="json")


def register_request(client: APIClient, username: str):
    return client.post(API + "auth/register", {"username": username, "password": PASSWORD}, format="json")


def signup_form(username: str) -> dict:
    return {"username": username, "nickname": "", "password": PASSWORD, "password_again": PASSWORD}


def exists(username: str) -> bool:
    return get_user_model().objects.filter(username=username).exists()


# --- every broken field at once ---------------------------------------------------


def test_a_register_body_with_several_bad_fields_reports_every_one(anonymous, transactional_db):
    body = {"username": "has space", "password": 12345678, "nickname": "n" * 65}
    error = assert_error(anonymous.post(API + "auth/register", body, format="json"), 400, "validation_error")
    assert error["errors"] == {
        "username": ["Letters, digits and @ . + - _ only."],
        "password": ["Must be a string."],
        "nickname": ["At most 64 characters."],
    }
    assert error["detail"] == "Invalid input."
    error = assert_error(anonymous.post(API + "auth/register", {}, format="json"), 400, "validation_error")
    assert error["errors"] == {"username": ["This field is required."], "password": ["This field is required."]}
    assert not get_user_model().objects.exists()


def test_a_taken_username_is_reported_together_with_a_rejected_password(alice, anonymous):
    body = {"username": "ALICE", "password": "12345678"}
    error = assert_error(anonymous.post(API + "auth/register", body, format="json"), 400, "validation_error")
    assert error["errors"]["username"] == ["This username is taken."]
    assert "This password is entirely numeric." in error["errors"]["password"]
    # Alone, each is reported as before.
    body = {"username": "alice", "password": PASSWORD}
    error = assert_error(anonymous.post(API + "auth/register", body, format="json"), 400, "validation_error")
    assert error["errors"] == {"username": ["This username is taken."]}
    body = {"username": "newcomer", "password": "12345678"}
    error = assert_error(anonymous.post(API + "auth/register", body, format="json"), 400, "validation_error")
    assert list(error["errors"]) == ["password"] and error["detail"] == "Password rejected."


def test_a_login_body_with_both_fields_broken_reports_both(alice, anonymous):
    # json.dumps escapes the lone surrogate, as a JSON client sends it.
    body = json.dumps({"username": 7, "password": "\ud800"})
    response = anonymous.generic("POST", API + "auth/token", body, content_type="application/json")
    error = assert_error(response, 400, "validation_error")
    assert error["errors"] == {
        "username": ["This field is required."],
        "password": ["Must not contain unpaired surrogates."],
    }


def test_a_patch_me_body_with_two_bad_fields_reports_both_and_changes_nothing(alice):
    error = assert_error(
        alice.patch("me", {"nickname": None, "avatar_url": "ftp://example.com/a.png"}), 400, "validation_error"
    )
    assert error["errors"] == {"nickname": ["Must be a string."], "avatar_url": ["Must be an http(s) URL."]}
    profile = alice.get("me").json()
    assert (profile["nickname"], profile["avatar_url"]) == ("Alice", "")


# --- one budget per address: the API and the page together ------------------------


def test_auth_token_and_the_login_page_share_one_budget_per_address(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (4, 60)
    avoid_window_edge(60)
    api, browser = APIClient(), Client()
    # Showing the page is not an attempt.
    for _ in range(5):
        assert browser.get("/login/").status_code == 200
    # Four attempts, whatever they hold: a wrong password on each side, an empty form, a body that is not JSON.
    assert_error(token_request(api, "alice", "wrong-password"), 401, "not_authenticated")
    assert browser.post("/login/", {"username": "alice", "password": "wrong-password"}).status_code == 200
    assert browser.post("/login/", {}).status_code == 200
    assert_error(
        api.generic("POST", API + "auth/token", "nope", content_type="application/json"), 400, "validation_error"
    )
    # The budget is spent for both, even with the right password.
    response = token_request(api, "alice", PASSWORD)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    page = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= 61
    assert b"Too many requests" in page.content
    assert logged_in_user_id(browser) is None
    # Another address has its own budget.
    assert token_request(APIClient(REMOTE_ADDR="192.0.2.9"), "alice", PASSWORD).status_code == 200
    other = Client(REMOTE_ADDR="192.0.2.9")
    assert other.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert logged_in_user_id(other) == alice.id


def test_auth_register_and_the_signup_page_share_one_budget_per_address(transactional_db, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_REGISTER_RATE = (3, 60)
    avoid_window_edge(60)
    api = APIClient()
    for _ in range(5):
        assert Client().get("/signup/").status_code == 200
    assert register_request(api, "ivy").status_code == 201
    assert Client().post("/signup/", signup_form("jill")).status_code == 302
    # A body that is not JSON counts too: the attempt is counted before the body is read.
    response = api.generic("POST", API + "auth/register", "{not json", content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert_error(register_request(api, "kim"), 429, "rate_limited")
    page = Client().post("/signup/", signup_form("lou"))
    assert page.status_code == 429 and b"Too many requests" in page.content
    assert (exists("ivy"), exists("jill"), exists("kim"), exists("lou")) == (True, True, False, False)
    assert register_request(APIClient(REMOTE_ADDR="192.0.2.9"), "kim").status_code == 201


# --- what each side says --------------------------------------------------------------


def test_the_login_page_names_a_deactivated_account_only_given_its_password(alice):
    deactivate(alice)
    browser = Client()
    page = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert page.status_code == 200 and b"This account is deactivated." in page.content
    assert logged_in_user_id(browser) is None
    page = browser.post("/login/", {"username": "alice", "password": "wrong-password"})
    assert page.status_code == 200
    assert b"deactivated" not in page.content and b"Please enter a correct username and password" in page.content
    # The API does not tell: both are a wrong login.
    for password in (PASSWORD, "wrong-password"):
        error = assert_error(token_request(APIClient(), "alice", password), 401, "not_authenticated")
        assert error["detail"] == "Wrong username or password."


def test_the_login_page_logs_in_and_shows_field_errors(alice):
    browser = Client()
    page = browser.post("/login/", {"username": "alice"})
    assert page.status_code == 200 and b"This field is required." in page.content
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and logged_in_user_id(browser) == alice.id


def test_the_signup_page_shows_every_problem_and_then_registers(alice):
    browser = Client()
    form = {**signup_form("alice"), "password": "12345678", "password_again": "12345678"}
    page = browser.post("/signup/", form)
    assert page.status_code == 200
    assert b"This username is taken." in page.content and b"This password is entirely numeric." in page.content
    response = browser.post("/signup/", {**signup_form("ally"), "nickname": " Ally "})
    assert response.status_code == 302
    user = get_user_model().objects.get(username="ally")
    assert (logged_in_user_id(browser), user.nickname) == (user.pk, "Ally")


# --- the services themselves ---------------------------------------------------------


def test_the_services_count_the_attempt_before_reading_the_input(alice, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_LOGIN_RATE = (2, 60)
    settings.CHAT_REGISTER_RATE = (1, 60)
    avoid_window_edge(60)
    reads = []

    def unreadable() -> Login:
        reads.append(1)
        raise InvalidInput("Malformed request body.")

    with pytest.raises(InvalidInput):
        accounts.log_in(None, unreadable, client_ip="192.0.2.1")
    assert accounts.log_in(None, Login("alice", PASSWORD), client_ip="192.0.2.1").pk == alice.id
    with pytest.raises(RateLimited):
        accounts.log_in(None, unreadable, client_ip="192.0.2.1")
    assert len(reads) == 1  # over the budget, the input is not even read

    user, token = accounts.register(Register("ivy", PASSWORD, "Ivy"), client_ip="192.0.2.1")
    assert (user.username, user.nickname) == ("ivy", "Ivy") and token
    with pytest.raises(RateLimited):
        accounts.register(Register("jack", PASSWORD, ""), client_ip="192.0.2.1")
    assert not exists("jack")


def test_log_in_tells_a_deactivated_account_apart_only_when_asked(alice):
    deactivate(alice)
    with pytest.raises(accounts.AccountDeactivated):
        accounts.log_in(None, Login("alice", PASSWORD), client_ip="192.0.2.1", tell_deactivated=True)
    with pytest.raises(accounts.NotAuthenticated) as caught:
        accounts.log_in(None, Login("alice", PASSWORD), client_ip="192.0.2.1")
    assert type(caught.value) is accounts.NotAuthenticated
    with pytest.raises(accounts.NotAuthenticated) as caught:
        accounts.log_in(None, Login("alice", "wrong-password"), client_ip="192.0.2.1", tell_deactivated=True)
    assert type(caught.value) is accounts.NotAuthenticated
