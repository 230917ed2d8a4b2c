"""What clients send to the account and profile endpoints, each declared once (chat_project/common/inputs.py).

The REST views parse with these, the login and sign-up pages too (after their
form fields); the OpenAPI schema shows the request bodies through
``serializer()`` (profiles/serializers.py). Every check below is a field
check ``(field name, raw JSON value) -> clean value``, so a body with several
broken fields reports all of them at once.
"""

from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from rest_framework import serializers

from chat_project.common.errors import InvalidInput
from chat_project.common.inputs import Field, Input
from chat_project.common.limits import NICKNAME_MAX, PASSWORD_MAX, USERNAME_MAX
from chat_project.common.text import has_unpaired_surrogate

# What the schema tells clients; the server's own rules are the checks below
# and AUTH_PASSWORD_VALIDATORS (the password's strength, checked on register).
PASSWORD_MIN = 8
AVATAR_URL_MAX = 500

USERNAME_CHARACTERS = "Letters, digits and @ . + - _ only."


class Unchanged(Enum):
    """The value of a ``PATCH me`` field the body does not name: it stays as it is."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED


class Register(NamedTuple):
    username: str
    password: str
    nickname: str


class Login(NamedTuple):
    username: str
    password: str


class ProfileUpdate(NamedTuple):
    nickname: str | Literal[Unchanged.UNCHANGED]
    avatar_url: str | Literal[Unchanged.UNCHANGED]


# --- field checks ----------------------------------------------------------------


def check_text(field: str, value: object, max_length: int, *, required: bool) -> str:
    """A string the database and the password hasher can take: no NUL, no lone surrogate, not too long."""
    if not isinstance(value, str):
        raise InvalidInput.field(field, "Must be a string.")
    if "\x00" in value:
        raise InvalidInput.field(field, "Must not contain NUL characters.")
    if has_unpaired_surrogate(value):
        raise InvalidInput.field(field, "Must not contain unpaired surrogates.")
    if required and not value.strip():
        raise InvalidInput.field(field, "This field may not be blank.")
    if len(value) > max_length:
        raise InvalidInput.field(field, f"At most {max_length} characters.")
    return value


def is_username(text: str) -> bool:
    """The username rule (the sign-up page's form applies it too): letters, digits and @ . + - _."""
    return all(ch.isalnum() or ch in "@.+-_" for ch in text)


def check_username(field: str, value: object) -> str:
    username = check_text(field, value, USERNAME_MAX, required=True)
    if username != username.strip() or not is_username(username):
        raise InvalidInput.field(field, USERNAME_CHARACTERS)
    return username


def check_password(field: str, value: object) -> str:
    """A new password's form; its strength needs the other fields (``services.register_user``)."""
    return check_text(field, value, PASSWORD_MAX, required=True)


def check_nickname(field: str, value: object) -> str:
    return check_text(field, value, NICKNAME_MAX, required=False).strip()


def check_avatar_url(field: str, value: object) -> str:
    """An http(s) URL, or "" (no avatar)."""
    text = check_text(field, value, AVATAR_URL_MAX, required=False).strip()
    if text == "":
        return ""
    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        raise InvalidInput.field(field, "Must be an http(s) URL.") from None
    return text


def check_credential(field: str, value: object) -> str:
    """A login field: any string (a wrong one is the login's 401), as long as it can be hashed."""
    if not isinstance(value, str):
        raise InvalidInput.field(field, "This field is required.")
    if has_unpaired_surrogate(value):
        raise InvalidInput.field(field, "Must not contain unpaired surrogates.")
    return value


# --- the declarations ----------------------------------------------------------------

# POST auth/register (and the sign-up page, after its form).
REGISTER = Input(
    "Register",
    Register,
    username=Field(
        check_username,
        serializers.CharField(
            min_length=1,
            max_length=USERNAME_MAX,
            validators=[RegexValidator(r"^[\w.@+-]+$")],
            help_text="Letters, digits and @ . + - _ (Unicode letters and digits too); unique, case-insensitively.",
        ),
    ),
    password=Field(
        check_password,
        serializers.CharField(
            min_length=PASSWORD_MIN,
            max_length=PASSWORD_MAX,
            validators=[RegexValidator(r"[^0-9]")],
            help_text=f"{PASSWORD_MIN}..{PASSWORD_MAX} characters, not only digits, not a common password, "
            "not too close to the username; no U+0000.",
        ),
    ),
    nickname=Field(
        check_nickname,
        serializers.CharField(allow_blank=True, max_length=NICKNAME_MAX, help_text="Shown instead of the username."),
        required=False,
        default="",
    ),
)

# POST auth/token (and the login page, after its form).
LOGIN = Input(
    "Login",
    Login,
    username=Field(check_credential, serializers.CharField()),
    password=Field(check_credential, serializers.CharField()),
)

# PATCH me: a field the body does not name is UNCHANGED.
PROFILE_UPDATE = Input(
    "ProfileUpdate",
    ProfileUpdate,
    nickname=Field(
        check_nickname,
        serializers.CharField(allow_blank=True, max_length=NICKNAME_MAX),
        required=False,
        default=UNCHANGED,
    ),
    avatar_url=Field(
        check_avatar_url,
        serializers.CharField(
            allow_blank=True,
            max_length=AVATAR_URL_MAX,
            validators=[RegexValidator(r"^(https?://\S+)?$")],
            help_text='An http(s) URL, or "" to clear it.',
        ),
        required=False,
        default=UNCHANGED,
    ),
)


def parse_profile_update(data: dict, current_avatar_url: Callable[[], str]) -> ProfileUpdate:
    """``PATCH me``'s body. Sending back one's current ``avatar_url`` keeps it, as if absent: an
    uploaded avatar's URL is relative to this server (``/media/…``), which the URL check would refuse.
    ``current_avatar_url`` is asked only when the body names ``avatar_url``.
    """
    if "avatar_url" in data:
        current = current_avatar_url()
        if current and data["avatar_url"] == current:
            data = {name: value for name, value in data.items() if name != "avatar_url"}
    return PROFILE_UPDATE.parse(data)
