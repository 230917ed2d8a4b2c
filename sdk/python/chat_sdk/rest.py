"""The REST half (``/api/v1/``) over httpx: one method per endpoint, answers as dataclasses, errors as ChatError."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from .attachments import (
    MultipartFile,
    ProgressCallback,
    SizeCheck,
    Upload,
    absolute_url,
    attachment_path,
    download_name,
    file_size,
)
from .errors import NETWORK_ERROR, AttachmentTooLarge, ChatError, upload_error
from .models import (
    Attachment,
    AttachmentLimits,
    Conversation,
    ConversationPage,
    HistoryPage,
    Login,
    Message,
    OfflineGroup,
    Profile,
    SearchPage,
    SyncPage,
    Unread,
)

UPLOAD_CHUNK = 64 * 1024


def api_root(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/v1/"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class Rest:
    """An authenticated REST session. ``transport`` replaces the network (httpx.MockTransport in tests).
    ``max_upload_bytes``: the largest file to upload, replacing the limit the server publishes
    (``GET attachments/limits``, asked before the first upload): a larger file is refused before it is sent."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.size_check = SizeCheck(max_upload_bytes)
        self._told_limit = max_upload_bytes is not None  # the app's limit wins over the published one
        self._limits: AttachmentLimits | None = None
        self._limits_lock = asyncio.Lock()
        self._limits_unpublished = False  # the server does not publish them (an older one)
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.http = httpx.AsyncClient(
            base_url=api_root(base_url), headers=headers, transport=transport, timeout=timeout
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ChatError(NETWORK_ERROR, f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise ChatError.from_body(body, response.status_code, _retry_after(response))
        return response.json() if response.content else None

    # --- accounts ----------------------------------------------------------------

    async def login(self, username: str, password: str) -> Login:
        body = await self.call("POST", "auth/token", json={"username": username, "password": password})
        return Login(body["user_id"], body["token"])

    async def me(self) -> Profile:
        return Profile.from_dict(await self.call("GET", "me"))

    async def user(self, user_id: int) -> Profile:
        return Profile.from_dict(await self.call("GET", f"users/{user_id}"))

    async def users(self, q: str) -> list[Profile]:
        body = await self.call("GET", "users", params={"q": q})
        return [Profile.from_dict(p) for p in body["results"]]

    async def update_me(self, *, nickname: str | None = None, avatar_url: str | None = None) -> Profile:
        """``PATCH me`` with the fields given (``avatar_url=""`` clears it); the Profile as changed."""
        body = _params(nickname=nickname, avatar_url=avatar_url)
        return Profile.from_dict(await self.call("PATCH", "me", json=body))

    # --- blocking (1.2) --------------------------------------------------------------

    async def blocks(self) -> list[Profile]:
        body = await self.call("GET", "blocks")
        return [Profile.from_dict(p) for p in body["results"]]

    async def block(self, user_id: int) -> None:
        await self.call("PUT", f"users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        await self.call("DELETE", f"users/{user_id}/block")

    # --- conversations and messages ------------------------------------------------

    async def conversations(
        self, limit: int | None = None, before: int | None = None, archived: bool | None = None
    ) -> ConversationPage:
        params = _params(limit=limit, before=before, archived=None if archived is None else str(archived).lower())
        body = await self.call("GET", "conversations", params=params)
        return ConversationPage([Conversation.from_dict(c) for c in body["results"]], body.get("next_before"))

    async def conversation(self, conversation_id: int) -> Conversation:
        return Conversation.from_dict(await self.call("GET", f"conversations/{conversation_id}"))

    async def conversation_with(self, user_id: int) -> Conversation:
        return Conversation.from_dict(await self.call("GET", f"conversations/with/{user_id}"))

    async def update_conversation(
        self,
        conversation_id: int,
        *,
        muted: bool | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> Conversation:
        """``PATCH conversations/{id}`` with the settings given (1.2); the Conversation as changed."""
        body = _params(muted=muted, pinned=pinned, archived=archived)
        return Conversation.from_dict(await self.call("PATCH", f"conversations/{conversation_id}", json=body))

    async def history(
        self, conversation_id: int, before: int | None = None, after: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        if before is not None and after is not None:
            raise ValueError("history takes at most one of before and after")
        params = _params(before=before, after=after, limit=limit)
        body = await self.call("GET", f"conversations/{conversation_id}/messages", params=params)
        return HistoryPage([Message.from_dict(m) for m in body["results"]], bool(body["has_more"]))

    async def send(
        self,
        to: int,
        content: str,
        client_msg_id: str,
        reply_to: int | None = None,
        attachments: list[int] | None = None,
    ) -> Message:
        body: dict[str, Any] = {"to": to, "content": content, "client_msg_id": client_msg_id}
        if reply_to is not None:
            body["reply_to"] = reply_to
        if attachments:
            body["attachments"] = attachments
        return Message.from_dict(await self.call("POST", "messages", json=body))

    async def edit(self, msg_id: int, content: str) -> Message:
        return Message.from_dict(await self.call("PATCH", f"messages/{msg_id}", json={"content": content}))

    async def recall(self, msg_id: int) -> None:
        await self.call("DELETE", f"messages/{msg_id}")

    async def react(self, msg_id: int, emoji: str | None) -> Message:
        if emoji is None:
            return Message.from_dict(await self.call("DELETE", f"messages/{msg_id}/reaction"))
        return Message.from_dict(await self.call("PUT", f"messages/{msg_id}/reaction", json={"emoji": emoji}))

    async def mark_read(self, conversation_id: int, up_to: int | None = None) -> int:
        body = {} if up_to is None else {"up_to": up_to}
        answer = await self.call("POST", f"conversations/{conversation_id}/read", json=body)
        return int(answer["unread"])

    async def search(
        self, q: str, conversation_id: int | None = None, before: int | None = None, limit: int | None = None
    ) -> SearchPage:
        params = _params(q=q, conversation_id=conversation_id, before=before, limit=limit)
        body = await self.call("GET", "search", params=params)
        return SearchPage([Message.from_dict(m) for m in body["results"]], body.get("next_before"))

    # --- unread and offline ------------------------------------------------------------

    async def unread(self) -> Unread:
        return Unread.from_dict(await self.call("GET", "unread"))

    async def offline(self) -> list[OfflineGroup]:
        body = await self.call("GET", "offline")
        return [OfflineGroup.from_dict(g) for g in body["results"]]

    async def ack_offline(self, sender_id: int, up_to: int) -> None:
        await self.call("POST", "offline/ack", json={"sender_id": sender_id, "up_to": up_to})

    # --- Web Push (1.2) ------------------------------------------------------------------

    async def push_key(self) -> str:
        return str((await self.call("GET", "push/key"))["public_key"])

    async def subscribe_push(self, endpoint: str, p256dh: str, auth: str) -> None:
        body = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        await self.call("POST", "push/subscriptions", json=body)

    async def unsubscribe_push(self, endpoint: str) -> None:
        await self.call("DELETE", "push/subscriptions", json={"endpoint": endpoint})

    # --- sync ----------------------------------------------------------------------

    async def sync(self, since: int, limit: int | None = None) -> SyncPage:
        body = await self.call("GET", "sync", params=_params(since=since, limit=limit))
        return SyncPage([Message.from_dict(m) for m in body["results"]], bool(body["has_more"]), body["next_since"])

    async def sync_position(self) -> int:
        return int((await self.call("GET", "sync/position"))["position"])

    # --- attachments -----------------------------------------------------------------

    async def attachment_limits(self) -> AttachmentLimits:
        """``GET attachments/limits`` (an extension of 1.2), asked once and kept; a failure is not kept."""
        async with self._limits_lock:
            if self._limits is None:
                self._limits = AttachmentLimits.from_dict(await self.call("GET", "attachments/limits"))
            return self._limits

    async def learn_upload_limit(self) -> None:
        """Before an upload: the published ``max_bytes`` becomes the size check's limit, unless the app gave
        one. Never raises: without an answer the upload goes, and the server's 413 decides."""
        if self._told_limit or self._limits_unpublished or self.size_check.max_bytes is not None:
            return
        try:
            limits = await self.attachment_limits()
        except ChatError as error:
            # A server without the endpoint never publishes them; a network error or a 5xx may pass.
            self._limits_unpublished = error.code in ("not_found", "method_not_allowed")
            return
        except (KeyError, TypeError, ValueError):  # an answer this SDK cannot read
            self._limits_unpublished = True
            return
        self.size_check.max_bytes = limits.max_bytes

    async def upload(
        self,
        path: str | os.PathLike[str],
        on_progress: ProgressCallback | None = None,
        *,
        name: str | None = None,
    ) -> Attachment:
        """``POST attachments`` (multipart, field ``file``), streamed from disk; ``on_progress(sent, total)`` in
        bytes of the body. A file over the limit the server publishes (or ``max_upload_bytes``) raises
        ``AttachmentTooLarge`` before a byte is sent (see ``attachments.SizeCheck``); refusals raise the
        ``UploadError`` subclasses. Cancel by cancelling the task, by ``start_upload(...).cancel()``, or by
        raising ``UploadCancelled`` in ``on_progress``: the server stores nothing of a body it did not receive
        whole."""
        file = Path(path)
        size = await asyncio.to_thread(file_size, file)
        self.size_check.check(size)  # what is known already refuses without a request
        await self.learn_upload_limit()
        self.size_check.check(size)
        body = MultipartFile(file, size, name)
        try:
            answer = await self.call("POST", "attachments", content=body.chunks(on_progress), headers=body.headers)
        except ChatError as error:
            typed = upload_error(error, size)
            if isinstance(typed, AttachmentTooLarge):
                self.size_check.refused(size)
            raise typed from None
        return Attachment.from_dict(answer)

    def start_upload(
        self, path: str | os.PathLike[str], on_progress: ProgressCallback | None = None, *, name: str | None = None
    ) -> Upload:
        """``upload`` in a task of its own: ``await`` the handle for the Attachment, ``.cancel()`` to abandon."""
        return Upload(self.upload(path, on_progress, name=name))

    def attachment_url(self, attachment: Attachment | int, *, thumbnail: bool = False) -> str:
        """The absolute URL of an attachment's bytes (or thumbnail); fetching it needs the token."""
        return absolute_url(self.base_url, api_root(self.base_url), attachment_path(attachment, thumbnail))

    @contextlib.asynccontextmanager
    async def _download(self, attachment: Attachment | int, thumbnail: bool) -> AsyncIterator[httpx.Response]:
        url = self.attachment_url(attachment, thumbnail=thumbnail)
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    raise ChatError.from_body(body, response.status_code, _retry_after(response))
                yield response
        except httpx.TransportError as exc:
            raise ChatError(NETWORK_ERROR, f"GET {url}: {exc!r}") from exc

    async def download(self, attachment: Attachment | int, *, thumbnail: bool = False) -> bytes:
        """The bytes of an attachment (or its thumbnail: an image's, at most 320 px a side). ChatError
        ``not_found`` for a file's thumbnail, a recalled message's attachment, or one you may not see."""
        async with self._download(attachment, thumbnail) as response:
            return await response.aread()

    async def download_to(
        self,
        attachment: Attachment | int,
        path: str | os.PathLike[str],
        *,
        thumbnail: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream an attachment (or its thumbnail) into ``path``, a file (replaced only once the bytes arrived
        whole) or a directory (the file then gets the name the server gives); ``on_progress(received, total)``.
        The path written."""
        async with self._download(attachment, thumbnail) as response:
            target = Path(path)
            if target.is_dir():
                target = target / (download_name(response.headers.get("Content-Disposition")) or "attachment")
            partial = target.with_name(target.name + ".part")
            total = int(response.headers.get("Content-Length") or 0)
            received = 0
            with partial.open("wb") as out:
                try:
                    async for chunk in response.aiter_bytes(UPLOAD_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
                        received += len(chunk)
                        if on_progress is not None:
                            on_progress(received, total)
                except BaseException:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise
        partial.replace(target)
        return target


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


async def login(base_url: str, username: str, password: str, **kwargs: Any) -> Login:
    """Exchange a username and password for the user's token (``POST auth/token``)."""
    rest = Rest(base_url, **kwargs)
    try:
        return await rest.login(username, password)
    finally:
        await rest.aclose()
