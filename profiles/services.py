"""Profile operations: register, look up (cached), update, search."""

from collections.abc import Callable, Iterable

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from rest_framework.authtoken.models import Token

from chat_project.common.dbretry import run_transaction
from chat_project.common.errors import InvalidInput, NotFound
from chat_project.common.limits import USERNAME_MAX
from chat_project.common.redis_client import Reads
from chat_project.common.timefmt import iso_utc

from . import avatars, hooks, store
from .inputs import UNCHANGED, ProfileUpdate
from .models import User

SEARCH_LIMIT = 20


def profile_from_fields(user_id: int, fields: dict, online: bool) -> dict:
    """PROTOCOL.md's Profile from cached (or ``_fields``) values and the presence flag.

    Every Profile the server outputs is built here (REST, conversation peers,
    offline senders, the message frame's sender, watch frames).
    """
    return {
        "user_id": user_id,
        "username": fields["username"],
        "nickname": fields["nickname"],
        "avatar_url": fields["avatar_url"],
        "online": online,
        "is_active": fields["is_active"] in ("1", 1, True),
        # Version 1.1: null while online, and for a user who never connected.
        "last_seen": None if online else (fields["last_seen"] or None),
        # Version 1.2: whether the requesting user blocks this one; answers that
        # know the requester set it (profiles.blocks.profile_for).
        "blocked": False,
    }


def _fields(user: User) -> dict:
    """The cached form of a user's profile fields (strings, as the Redis hash holds them)."""
    return {
        "user_id": user.pk,
        "username": user.username,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "is_active": "1" if user.is_active else "0",
        "last_seen": iso_utc(user.last_seen) if user.last_seen else "",
    }


def profile_of(user: User) -> dict:
    return profile_from_fields(user.pk, _fields(user), store.is_online(user.pk))


def complete_profile_fields(cached: dict[int, dict]) -> dict[int, dict]:
    """Fill the cache misses in ``cached`` (user id -> hash, {} when missing) from the database."""
    missing = [user_id for user_id, fields in cached.items() if not store.has_every_field(fields)]
    found = {user_id: fields for user_id, fields in cached.items() if store.has_every_field(fields)}
    if missing:
        rows = [_fields(user) for user in User.objects.filter(pk__in=missing)]
        store.cache_profiles(rows)
        found.update({row["user_id"]: row for row in rows})
    return found


def get_profiles(user_ids: Iterable[int]) -> dict[int, dict]:
    reads = Reads()
    profiles = queue_profiles(reads, user_ids)
    reads.execute()
    return profiles()


def queue_profiles(reads: Reads, user_ids: Iterable[int]) -> Callable[[], dict[int, dict]]:
    """``get_profiles`` on a shared pipeline: queue its reads now, call the result after ``reads.execute()``.

    The cached fields and the presence flags go in the same round trip;
    the cache's misses are read from the database (and cached) when called.
    """
    ids = list(dict.fromkeys(user_ids))
    cached = reads.add(store.queue_profile_reads, ids)
    online_flags = reads.add(store.queue_online_reads, ids)

    def profiles() -> dict[int, dict]:
        fields = complete_profile_fields(store.parse_profile_reads(ids, reads[cached]))
        online = store.parse_online_reads(ids, reads[online_flags])
        return {user_id: profile_from_fields(user_id, fields[user_id], online[user_id]) for user_id in fields}

    return profiles


def get_profile(user_id: int) -> dict:
    profiles = get_profiles([user_id])
    if user_id not in profiles:
        raise NotFound("No such user.")
    return profiles[user_id]


def get_visible_profile(viewer_id: int, user_id: int) -> dict:
    """``GET users/{id}`` (PROTOCOL.md 1.1): any active user's Profile; a deactivated
    user's only to users who share a conversation with them, not_found to everyone else.
    """
    profile = get_profile(user_id)  # the cache: no SQL for an active user
    if not profile["is_active"] and not hooks.shares_conversation(viewer_id, user_id):
        raise NotFound("No such user.")
    return profile


def get_active_user(user_id: int) -> User:
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except User.DoesNotExist:
        raise NotFound("No such user.") from None


USERNAME_TAKEN = "This username is taken."


def register_user(username: str, password: str, nickname: str = "") -> tuple[User, str]:
    """Create an account from clean values (``inputs.REGISTER`` checked each field; ``accounts.register``
    is the rate-limited entry point clients reach). Checked here: the password's strength
    (AUTH_PASSWORD_VALIDATORS, which compare it with the username) and the username's uniqueness,
    both reported together.
    """
    candidate = User(username=username, nickname=nickname)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        errors = {"password": list(exc.messages)}
        # Every problem at once, as the sign-up page shows them: a taken username too.
        if User.objects.filter(username__iexact=username).exists():
            errors = {"username": [USERNAME_TAKEN], **errors}
        raise InvalidInput("Password rejected." if len(errors) == 1 else "Invalid input.", errors) from None
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise IntegrityError
            user = User.objects.create_user(username=username, password=password, nickname=nickname)
            token = Token.objects.create(user=user)
    except IntegrityError:
        raise InvalidInput.field("username", USERNAME_TAKEN) from None
    return user, token.key


def token_for(user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def update_profile(user: User, changes: ProfileUpdate) -> dict:
    """``PATCH me``: set the fields given (the others are UNCHANGED)."""
    update_fields = []
    if changes.nickname is not UNCHANGED:
        user.nickname = changes.nickname
        update_fields.append("nickname")
    previous_avatar = user.avatar_url
    if changes.avatar_url is not UNCHANGED:
        user.avatar_url = changes.avatar_url
        update_fields.append("avatar_url")
    if update_fields:
        # The post_save signal drops the cached profile once this commits; the
        # save is run again after a deadlock or a lost database (dbretry).
        run_transaction(lambda: user.save(update_fields=update_fields), "profile update")
    if user.avatar_url != previous_avatar:
        # An uploaded avatar replaced by a URL (or cleared): its file goes.
        avatars.delete_uploaded(user.pk, previous_avatar)
    return profile_of(user)


def upload_avatar(user: User, upload) -> dict:
    """``POST me/avatar``: store the uploaded image (profiles/avatars.py) as the user's avatar.

    The same path as ``update_profile``: saving ``avatar_url`` drops the cached
    profile and tells watchers (post_save). The previous uploaded file is deleted
    once the change commits; the new one is deleted if it does not.
    """
    data = avatars.render_avatar(upload)
    name = avatars.store(user.pk, data)
    try:

        def replace() -> User:
            # Locked: two uploads at once each delete the file the other replaced, none is left behind.
            locked = User.objects.select_for_update().get(pk=user.pk)
            previous = locked.avatar_url
            locked.avatar_url = avatars.url_of(name)
            locked.save(update_fields=["avatar_url"])
            if previous != locked.avatar_url:  # a retried try whose first one committed keeps its file
                transaction.on_commit(lambda: avatars.delete_uploaded(user.pk, previous))
            return locked

        locked = run_transaction(replace, "avatar upload")
    except BaseException:
        avatars.discard(name)
        raise
    user.avatar_url = locked.avatar_url
    user.remember_watched_fields()
    return profile_of(locked)


def search_users(query: object) -> list[dict]:
    """Active users whose username or nickname starts with ``query`` (case-insensitive)."""
    text = query.strip() if isinstance(query, str) else ""
    if not text:
        return []
    if "\x00" in text or len(text) > USERNAME_MAX:
        raise InvalidInput.field("q", "Invalid search text.")
    users = (
        User.objects.filter(is_active=True)
        .filter(Q(username__istartswith=text) | Q(nickname__istartswith=text))
        .order_by("username")[:SEARCH_LIMIT]
    )
    rows = [_fields(user) for user in users]
    online = store.online_flags([row["user_id"] for row in rows])
    return [profile_from_fields(row["user_id"], row, online[row["user_id"]]) for row in rows]
