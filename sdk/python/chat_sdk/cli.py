"""``chat-cli``: log in once (the token is kept in a config file), then list conversations, show history,
send, and follow conversations live.

    chat-cli login --server http://127.0.0.1:8000 alice      # asks for the password (or CHAT_PASSWORD)
    chat-cli conversations
    chat-cli history 45 --limit 20
    chat-cli send 9 "hi there"
    chat-cli send 9 "the report" --file report.pdf --file photo.jpg   # uploads (progress on stderr), then sends
    chat-cli download 55 [--thumbnail] [-o PATH]             # an attachment's bytes (default: its own name, here)
    chat-cli follow [45]                                     # Ctrl-C to stop
"""

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from .client import ChatClient
from .errors import ChatError
from .events import MessageChanged, MessageReceived, Presence, Recalled, StateChanged, Typing, UploadProgress
from .models import Attachment, Message
from .rest import Rest, login
from .storage import JsonFileStore

DEFAULT_CONFIG = Path("~/.config/chat-cli/config.json")


def config_path(given: str | None) -> Path:
    return Path(given or os.environ.get("CHAT_CLI_CONFIG") or DEFAULT_CONFIG).expanduser()


def read_config(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise SystemExit(f"not logged in: run `chat-cli login --server URL USERNAME` first ({path} is missing)")


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # The token is a password: readable by its owner only.
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(config, indent=2))
    tmp.replace(path)


def describe(attachment: Attachment) -> str:
    size = f"{attachment.size / 1024:.0f} KiB" if attachment.size >= 1024 else f"{attachment.size} B"
    shape = f", {attachment.width}x{attachment.height}" if attachment.width and attachment.height else ""
    return f"[{attachment.kind} {attachment.attachment_id}: {attachment.name}, {size}{shape}]"


def line(message: Message, me: int | None) -> str:
    who = "me" if message.sender_id == me else f"user {message.sender_id}"
    parts = ["(recalled)"] if message.recalled else [message.content] if message.content else []
    parts += [describe(a) for a in message.attachments]
    if message.edited_at:
        parts.append("(edited)")
    return f"{message.msg_id}  {message.created_at[:19]}  {who}: {' '.join(parts)}"


async def cmd_login(args: argparse.Namespace, path: Path) -> None:
    password = os.environ.get("CHAT_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    result = await login(args.server, args.username, password)
    write_config(
        path, {"server": args.server, "username": args.username, "user_id": result.user_id, "token": result.token}
    )
    print(f"logged in as {args.username} (user {result.user_id}); token saved in {path}")


async def cmd_conversations(args: argparse.Namespace, config: dict[str, Any]) -> None:
    rest = Rest(config["server"], config["token"])
    try:
        page = await rest.conversations(limit=args.limit)
    finally:
        await rest.aclose()
    if not page.results:
        print("no conversations yet")
    for c in page.results:
        last = c.last_message
        preview = "" if last is None else ("(recalled)" if last.recalled else last.content.replace("\n", " ")[:60])
        unread = f"  [{c.unread} unread]" if c.unread else ""
        print(f"{c.conversation_id}  {c.peer.username} ({c.peer.name}, user {c.peer.user_id}){unread}  {preview}")


async def cmd_history(args: argparse.Namespace, config: dict[str, Any]) -> None:
    rest = Rest(config["server"], config["token"])
    try:
        page = await rest.history(args.conversation_id, before=args.before, limit=args.limit)
    finally:
        await rest.aclose()
    for message in page.results:
        print(line(message, config.get("user_id")))
    if page.has_more:
        print(f"(older: chat-cli history {args.conversation_id} --before {page.results[0].msg_id})")


async def cmd_send(args: argparse.Namespace, config: dict[str, Any]) -> None:
    if not args.text and not args.file:
        raise SystemExit("chat-cli send: give the text, or --file PATH (or both)")
    shown: dict[str, int] = {}

    def progress(event: UploadProgress) -> None:
        percent = event.sent * 100 // max(event.total, 1)
        if shown.get(event.path, -1) // 10 != percent // 10:  # every tenth, not every chunk
            shown[event.path] = percent
            print(f"uploading {Path(event.path).name}: {percent}%", file=sys.stderr, flush=True)

    async with ChatClient(config["server"], config["token"]) as client:
        client.on("upload", progress)
        # Uploads count against the timeout too: a large file on a slow link wants a larger --timeout.
        message = await asyncio.wait_for(client.send(args.to, " ".join(args.text), files=args.file), args.timeout)
    print(f"sent {message.msg_id} in conversation {message.conversation_id}")
    for attachment in message.attachments:
        print(f"  {describe(attachment)}")


async def cmd_download(args: argparse.Namespace, config: dict[str, Any]) -> None:
    rest = Rest(config["server"], config["token"])
    try:
        written = await rest.download_to(args.attachment_id, args.output or Path.cwd(), thumbnail=args.thumbnail)
    finally:
        await rest.aclose()
    print(f"saved {written}")


async def cmd_follow(args: argparse.Namespace, config: dict[str, Any], path: Path) -> None:
    # The follower's cursor lives beside the config: a restart shows what arrived meanwhile, once.
    store = JsonFileStore(path.with_name(path.stem + ".follow.json"))
    me = config.get("user_id")
    async with ChatClient(config["server"], config["token"], store=store) as client:
        async for event in client.events():
            if isinstance(event, StateChanged):
                code = f" (code {event.code})" if event.code else ""
                print(f"-- {event.state}{code} {event.reason}".rstrip(), file=sys.stderr, flush=True)
                continue
            conversation = getattr(event, "conversation_id", None)
            if isinstance(event, MessageReceived | MessageChanged):
                conversation = event.message.conversation_id
            if args.conversation_id is not None and conversation != args.conversation_id:
                continue
            if isinstance(event, MessageReceived):
                print(line(event.message, me), flush=True)
            elif isinstance(event, MessageChanged):
                print("changed " + line(event.message, me), flush=True)
            elif isinstance(event, Recalled):
                print(f"{event.msg_id} recalled", flush=True)
            elif isinstance(event, Typing):
                print(f"user {event.user_id} is typing…", flush=True)
            elif isinstance(event, Presence):
                print(f"user {event.user_id} is {'online' if event.online else 'offline'}", flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chat-cli", description="A command-line client for the chat server.")
    p.add_argument("--config", help=f"config file (default $CHAT_CLI_CONFIG or {DEFAULT_CONFIG})")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("login", help="log in and keep the token")
    s.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    s.add_argument("username")
    s = sub.add_parser("conversations", help="list your conversations, newest first")
    s.add_argument("--limit", type=int)
    s = sub.add_parser("history", help="a conversation's messages, oldest first")
    s.add_argument("conversation_id", type=int)
    s.add_argument("--before", type=int)
    s.add_argument("--limit", type=int)
    s = sub.add_parser("send", help="send a message to a user")
    s.add_argument("to", type=int, help="the recipient's user id")
    s.add_argument("text", nargs="*")
    s.add_argument("--file", action="append", default=[], metavar="PATH", help="attach this file (repeatable)")
    s.add_argument("--timeout", type=float, default=30.0)
    s = sub.add_parser("download", help="save an attachment (or its thumbnail)")
    s.add_argument("attachment_id", type=int)
    s.add_argument("--thumbnail", action="store_true", help="an image's thumbnail (at most 320 px a side)")
    s.add_argument("-o", "--output", help="a file, or a directory (default: here, under the file's own name)")
    s = sub.add_parser("follow", help="print new messages live (all conversations, or one)")
    s.add_argument("conversation_id", type=int, nargs="?")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    path = config_path(args.config)
    try:
        if args.command == "login":
            asyncio.run(cmd_login(args, path))
            return 0
        config = read_config(path)
        if args.command == "conversations":
            asyncio.run(cmd_conversations(args, config))
        elif args.command == "history":
            asyncio.run(cmd_history(args, config))
        elif args.command == "send":
            asyncio.run(cmd_send(args, config))
        elif args.command == "download":
            asyncio.run(cmd_download(args, config))
        elif args.command == "follow":
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(cmd_follow(args, config, path))
    except ChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("error: no answer in time (the message stays unsent)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
