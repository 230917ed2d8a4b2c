"""The fault suites' edit, reaction, recall and attachment load, and its checks (PROTOCOL.md 1.2).

Besides their sends (tests/faults.py), the users of both fault suites act
like 1.2 clients while faults happen:

- every ``ATTACH_EVERY``-th send of a sender carries an upload, a small PNG or
  a small text file: ``POST attachments`` first (again after a failed
  upload), then the send with ``attachments`` and the same ``client_msg_id``
  on every re-send, so a retried send must neither attach twice nor be
  refused as "already part of another message";
- each user's ``ChangeActor`` edits its own acked messages (``PATCH``), sets,
  replaces and removes its reaction on messages it received, and now and then
  recalls one of its own, each change sent again until answered, like a send.

A change can end three ways: answered (``ok``), refused with 403 because
the message was recalled meanwhile (``refused``: the check then demands the
message be recalled), or not answered by the end of the phase
(``unanswered``). Those last two may or may not have taken effect when an
attempt went out and got no answer, and so may an attempt that timed out even
after later changes (it may still be running on the server): the expected
state allows their values too, and no other.

``check_changes`` then compares, per message of the phase, three things that
must agree: the expected state (the original or last answered edit, each
user's last answered reaction, the recall, the one attachment; a recalled
message has no content, reactions or attachments), a fresh
``GET`` of the conversation page, and the copy each of the two users' clients
holds (kept by the largest ``rev`` from pushes, ``changed`` frames and its
own sync chain; never from its own REST answers). The peer downloads every
attachment (bytes or pixels equal to the upload; 404 once recalled).
"""

import asyncio
import hashlib
import io
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from .fault_http import http_call, http_download, http_upload, timed_out

if TYPE_CHECKING:
    from .faults import Client, Figures, Phase, SendRecord, Traffic

# Every sixth send of a sender carries an attachment: odd ones an image, even ones a file.
ATTACH_EVERY = 6
IMAGE_SIDE = 8
# Seconds between two changes of one user (about 4 a second for twelve users).
CHANGE_INTERVAL = 3.0
# One change in RECALL_EVERY of those a user makes to its own messages is a recall.
RECALL_EVERY = 8
# Recalls only of messages this recent (the server's window is 120 s).
RECALL_WITHIN = 60.0
# Changes go to one of the newest few messages, so some get several.
RECENT = 5
EMOJIS = ("👍", "❤️", "🎉", "😂")
# Answers after which a change is sent again: the server did not decide (or said "later").
RETRIED = frozenset({"dropped", "timeout", "unavailable", "rate_limited", "http_502", "http_503", "http_504"})


# --- attachments -----------------------------------------------------------------------


@dataclass
class Upload:
    """The file a send carries; ``attachment_id`` once an upload of it was answered 201."""

    name: str
    data: bytes
    kind: str  # "image" or "file"
    pixels: bytes = b""  # an image's RGB pixels, which its re-encoded copy keeps
    attachment_id: int | None = None


def upload_for(client_msg_id: str, sequence: int) -> Upload | None:
    """What send ``sequence`` of a sender carries: every ATTACH_EVERY-th, alternately an image and a file."""
    if sequence % ATTACH_EVERY:
        return None
    seed = hashlib.sha256(client_msg_id.encode()).digest()
    if (sequence // ATTACH_EVERY) % 2:
        pixels = (seed * 8)[: IMAGE_SIDE * IMAGE_SIDE * 3]
        image = Image.frombytes("RGB", (IMAGE_SIDE, IMAGE_SIDE), pixels)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return Upload(f"{client_msg_id}.png", buffer.getvalue(), "image", pixels)
    data = f"{client_msg_id} {seed.hex()} fault attachment\n".encode() * 16
    return Upload(f"{client_msg_id}.txt", data, "file")


async def upload(traffic: "Traffic", client: "Client", record: "SendRecord") -> bool:
    """One try at uploading the record's file, if it has none uploaded yet; True once it has."""
    item = record.upload
    if item is None or item.attachment_id is not None:
        return True
    try:
        status, body = await traffic.on_any(
            http_upload, client.user.token, item.name, item.data, prefer=client.rest_port()
        )
    except ConnectionError as exc:
        # An upload that lands late only leaves an unattached file behind (deleted after 24 h).
        record.failures["upload:no_answer" if timed_out(exc) else "upload:dropped"] += 1
        return False
    if status != 201:
        record.failures[f"upload:{(body or {}).get('code') or f'http_{status}'}"] += 1
        return False
    item.attachment_id = body["attachment_id"]
    # The send starts now: ack latencies (the cluster suite's p99) stay those of sends.
    record.created = time.monotonic()
    return True


# --- changes -------------------------------------------------------------------------------


@dataclass
class ChangeRecord:
    """One change a client meant to make to a message, sent again until answered."""

    user: int
    msg_id: int
    kind: str  # "edit", "react", "unreact" or "recall"
    value: str | None  # the new content, or the emoji; None for unreact and recall
    outcome: str = "pending"  # then "ok", "refused" (403), "unanswered" or "error"
    answer: dict | None = None
    failures: Counter = field(default_factory=Counter)
    # An attempt timed out: it may still be running on the server, and land after later changes.
    maybe_late: bool = False

    @property
    def what(self) -> tuple:
        """The part of the message it sets: the content, a user's reaction, the status."""
        if self.kind == "edit":
            return ("content",)
        if self.kind == "recall":
            return ("status",)
        return ("reaction", self.user)

    @property
    def maybe_applied(self) -> bool:
        """Not answered as done, yet perhaps done: an attempt went out and its answer was lost."""
        return self.outcome != "ok" and bool(self.failures)

    def request(self) -> tuple[str, str, dict | None]:
        path = f"messages/{self.msg_id}"
        if self.kind == "edit":
            return "PATCH", path, {"content": self.value}
        if self.kind == "react":
            return "PUT", f"{path}/reaction", {"emoji": self.value}
        if self.kind == "unreact":
            return "DELETE", f"{path}/reaction", None
        return "DELETE", path, None


class ChangeActor:
    """One user's edits, reactions and recalls, one at a time, on messages of the running phase."""

    def __init__(self, traffic: "Traffic", client: "Client", interval: float = CHANGE_INTERVAL) -> None:
        self.traffic, self.client, self.interval = traffic, client, interval
        self.uid = client.user.id
        self.random = random.Random(self.uid)
        self.turn = 0
        self.edits: Counter = Counter()
        # The emoji this user last asked for per message (None: removed), whatever the answer.
        self.reaction: dict[int, str | None] = {}
        self.recalled: set[int] = set()
        # The rev of the last answered change per message: answers to one client never go back.
        self.answered_rev: dict[int, int] = {}

    async def run(self) -> None:
        traffic = self.traffic
        while not traffic.stopped:
            await asyncio.sleep(self.interval * self.random.uniform(0.7, 1.3))
            phase = traffic.phase
            if phase is None or not phase.sending:
                continue
            change = self.next_change(phase)
            if change is None:
                continue
            phase.changes.append(change)
            key = ("change", self.uid)
            traffic.busy.add(key)
            try:
                await self.perform(change, phase)
            finally:
                traffic.busy.discard(key)

    def next_change(self, phase: "Phase") -> ChangeRecord | None:
        """Alternately a change to an own message (edit, sometimes recall) and a reaction to a received one."""
        self.turn += 1
        prefix = phase.name + "-"
        mine = [
            r for r in phase.records if r.sender == self.uid and r.msg_id is not None and r.msg_id not in self.recalled
        ][-RECENT:]
        received = [
            m
            for m in self.client.latest.values()
            if m["recipient_id"] == self.uid
            and m["status"] == "normal"
            and (m.get("client_msg_id") or "").startswith(prefix)
        ]
        received = sorted(received, key=lambda m: m["msg_id"])[-RECENT:]
        if mine and (self.turn % 2 or not received):
            record = self.random.choice(mine)
            assert record.msg_id is not None
            recent = record.acked_at is not None and time.monotonic() - record.acked_at < RECALL_WITHIN
            if recent and self.random.randrange(RECALL_EVERY) == 0:
                self.recalled.add(record.msg_id)
                return ChangeRecord(self.uid, record.msg_id, "recall", None)
            self.edits[record.msg_id] += 1
            content = f"{record.client_msg_id} edit {self.edits[record.msg_id]} ✏️"
            return ChangeRecord(self.uid, record.msg_id, "edit", content)
        if received:
            msg_id = self.random.choice(received)["msg_id"]
            current = self.reaction.get(msg_id)
            if current is not None and self.random.random() < 0.4:
                self.reaction[msg_id] = None
                return ChangeRecord(self.uid, msg_id, "unreact", None)
            emoji = self.random.choice([e for e in EMOJIS if e != current])
            self.reaction[msg_id] = emoji
            return ChangeRecord(self.uid, msg_id, "react", emoji)
        return None

    async def perform(self, change: ChangeRecord, phase: "Phase") -> None:
        """Until answered: again after no answer, a drop or an answer that says "later"."""
        method, path, body = change.request()
        while True:
            try:
                status, answer = await self.traffic.http(
                    method, path, self.client.user.token, body, prefer=self.client.rest_port()
                )
            except ConnectionError as exc:
                late = timed_out(exc)
                change.maybe_late = change.maybe_late or late
                change.failures["timeout" if late else "dropped"] += 1
            else:
                code = (answer or {}).get("code") or f"http_{status}"
                if status in (200, 204):
                    change.outcome, change.answer = "ok", answer
                    self._answered(change)
                    return
                if status == 403:
                    change.outcome, change.answer = "refused", answer
                    return
                if code not in RETRIED:
                    change.outcome, change.answer = "error", answer
                    return
                change.failures[code] += 1
            if self.traffic.loop.time() > phase.give_up_at or self.traffic.stopped:
                change.outcome = "unanswered"
                return
            await asyncio.sleep(0.5)

    def _answered(self, change: ChangeRecord) -> None:
        if change.answer is None:  # a recall: 204
            return
        rev = change.answer["rev"]
        before = self.answered_rev.get(change.msg_id, 0)
        if rev < before:
            self.client.note_rev_back(f"answer to {change.kind} of {change.msg_id}: rev {rev} after {before}")
        self.answered_rev[change.msg_id] = max(rev, before)


# --- the checks ----------------------------------------------------------------------------


@dataclass
class Expected:
    """What a message may look like once the phase's changes are done."""

    statuses: set[str]
    contents: set[str]
    reactions: dict[int, set[str | None]]  # per user: the emoji it may have (None: none)
    answered: dict[tuple, ChangeRecord]  # per part of the message, its last answered change


def expected_state(record: "SendRecord", changes: list[ChangeRecord]) -> Expected:
    by_part: dict[tuple, list[ChangeRecord]] = {}
    for change in changes:
        by_part.setdefault(change.what, []).append(change)
    answered: dict[tuple, ChangeRecord] = {}

    def allowed(part: tuple, initial) -> set:
        """The last answered value (or ``initial``), and those of changes that may have landed after it."""
        ops = by_part.get(part, [])
        last = max((i for i, op in enumerate(ops) if op.outcome == "ok"), default=-1)
        if last >= 0:
            answered[part] = ops[last]
        values = {ops[last].value if last >= 0 else initial}
        for i, op in enumerate(ops):
            if (i > last and op.maybe_applied) or op.maybe_late:
                values.add(op.value)
        return values

    recalls = by_part.get(("status",), [])
    done = [op for op in recalls if op.outcome == "ok"]
    if done:
        answered[("status",)] = done[-1]
        statuses = {"recalled"}
    elif any(op.maybe_applied or op.maybe_late for op in recalls):
        statuses = {"normal", "recalled"}
    else:
        statuses = {"normal"}
    reactions = {
        user: allowed(("reaction", user), None) for user in {record.sender, record.to} | {c.user for c in changes}
    }
    return Expected(statuses, allowed(("content",), record.content), reactions, answered)


def answered(call: Callable[..., tuple], *args) -> tuple:
    """A check's read, again after no answer or a proxy's "try later" (the system has settled: briefly)."""
    for _ in range(10):
        try:
            answer = call(*args)
        except ConnectionError:
            time.sleep(1)
            continue
        if answer[0] not in (502, 503, 504):
            return answer
        time.sleep(1)
    return call(*args)


def fresh_messages(traffic: "Traffic", records: list["SendRecord"]) -> dict[int, dict]:
    """The phase's acked messages as a fresh ``GET conversations/{id}/messages`` pages them (after the oldest)."""
    oldest: dict[int, tuple[int, SendRecord]] = {}
    for record in records:
        if record.message is None or record.msg_id is None:
            continue
        conversation = record.message["conversation_id"]
        if conversation not in oldest or record.msg_id < oldest[conversation][0]:
            oldest[conversation] = (record.msg_id, record)
    found: dict[int, dict] = {}
    for conversation, (first, record) in oldest.items():
        client = traffic.clients[record.sender]
        after = first - 1
        while True:
            path = f"conversations/{conversation}/messages?limit=100&after={after}"
            status, body = answered(http_call, client.rest_port(), "GET", path, client.user.token)
            assert status == 200, (status, body)
            for message in body["results"]:
                found[message["msg_id"]] = message
            if not body["has_more"] or not body["results"]:
                break
            after = body["results"][-1]["msg_id"]
    return found


def last_message_diffs(traffic: "Traffic", fresh: dict[int, dict]) -> list[str]:
    """Each conversation's ``last_message`` (read from the Redis recent window) as both users see it: the fresh state.

    ``fresh`` runs to the end of each conversation, so its newest message there is the last one.
    """
    newest: dict[int, dict] = {}
    for message in fresh.values():
        held = newest.get(message["conversation_id"])
        if held is None or message["msg_id"] > held["msg_id"]:
            newest[message["conversation_id"]] = message
    diffs = []
    for conversation, message in newest.items():
        for uid in (message["sender_id"], message["recipient_id"]):
            client = traffic.clients[uid]
            path = f"conversations/{conversation}"
            status, body = answered(http_call, client.rest_port(), "GET", path, client.user.token)
            if status != 200 or body["last_message"] != message:
                seen = _brief(body["last_message"]) if status == 200 else status
                diffs.append(f"{path}: user {uid} sees last message {seen}, fresh {_brief(message)}")
    return diffs


def check_changes(
    traffic: "Traffic", phase: "Phase", figures: "Figures", before_sync: dict[int, dict[int, dict]]
) -> None:
    """Every acked message of the phase: expected state == fresh GET == both users' copies; attachments served.

    ``before_sync``: the copies before check_phase's last sync. A copy that only
    this sync brought up to date (``sync_only``) is a push lost without the
    socket noticing it (numbered events, resync), which left the client stale.
    """
    changes_of: dict[int, list[ChangeRecord]] = {}
    for change in phase.changes:
        changes_of.setdefault(change.msg_id, []).append(change)
    done = [c for c in phase.changes if c.outcome == "ok"]
    figures.edits = sum(c.kind == "edit" for c in done)
    figures.reactions = sum(c.kind in ("react", "unreact") for c in done)
    figures.recalls = sum(c.kind == "recall" for c in done)
    figures.gave_up = sum(c.outcome in ("refused", "unanswered") for c in phase.changes)
    acked = [r for r in phase.records if r.msg_id is not None]
    figures.attached = sum(r.upload is not None for r in acked)
    for change in phase.changes:
        if change.outcome == "error":
            figures.state_diffs += 1
            figures.problems.append(f"{change.kind} of {change.msg_id} by {change.user}: answered {change.answer}")

    fresh = fresh_messages(traffic, acked)
    copies = traffic.latest_by()
    if any(
        copies[uid].get(m["msg_id"], {"rev": 0})["rev"] < m["rev"]
        for m in fresh.values()
        for uid in (m["sender_id"], m["recipient_id"])
        if uid in copies
    ):
        # A change whose attempt timed out may have landed after check_phase's sync: one more.
        traffic.sync_all()
        copies = traffic.latest_by()
    diffs: list[str] = []
    lost: list[str] = []
    backwards: list[str] = []
    for record in acked:
        assert record.msg_id is not None
        msg_id = record.msg_id
        message = fresh.get(msg_id)
        if message is None:
            diffs.append(f"{msg_id}: not in a fresh GET of its conversation")
            continue
        lost_here, problems = findings(message, record, changes_of.get(msg_id, []))
        lost += lost_here
        for uid in (record.sender, record.to):
            copy = copies[uid].get(msg_id)
            if copy is None:
                problems.append(f"user {uid} holds no copy")
            elif copy["rev"] > message["rev"]:
                backwards.append(f"{msg_id}: user {uid} holds rev {copy['rev']}, a fresh GET has {message['rev']}")
            elif copy != message:
                problems.append(f"user {uid} holds {_brief(copy)}, a fresh GET has {_brief(message)}")
        problems += _check_attachment(traffic, record, message)
        if problems:
            diffs.append(f"{msg_id} ({record.client_msg_id}): " + "; ".join(problems))
    behind: Counter = Counter()
    examples = []
    for m in fresh.values():
        for uid in (m["sender_id"], m["recipient_id"]):
            held = before_sync.get(uid, {}).get(m["msg_id"])
            if held is None or held["rev"] < m["rev"]:
                behind["missing" if held is None else "older rev"] += 1
                examples.append(f"user {uid} msg {m['msg_id']} rev {held and held['rev']} -> {m['rev']}")
    figures.sync_only = sum(behind.values())
    if behind:
        figures.problems.append(f"copies brought up to date only by the last sync: {dict(behind)}, {examples[:4]}")
    diffs += last_message_diffs(traffic, fresh)
    figures.chg_lost = len(lost)
    figures.state_diffs += len(diffs)
    figures.rev_back += len(backwards)
    figures.problems += lost[:10] + diffs[:10] + backwards[:10] + traffic.rev_notes()[:10]
    retried: Counter = Counter()
    for change in phase.changes:
        retried.update(change.failures)
    if retried:
        figures.problems.append(f"answers before a change was answered (each sent again): {dict(retried)}")
    refused = Counter(c.kind for c in phase.changes if c.outcome == "refused")
    unanswered = Counter(c.kind for c in phase.changes if c.outcome == "unanswered")
    if refused or unanswered:
        figures.problems.append(f"given up: refused (recalled) {dict(refused)}, unanswered {dict(unanswered)}")
    resent = sum(1 for r in acked if r.upload is not None and any(not k.startswith("upload:") for k in r.failures))
    if resent:
        figures.problems.append(f"sends with a file sent again (same client_msg_id and attachment): {resent}")
    reuploaded = sum(1 for r in acked if any(k.startswith("upload:") for k in r.failures))
    if reuploaded:
        figures.problems.append(f"files uploaded again after a failed upload: {reuploaded}")


def findings(message: dict, record: "SendRecord", changes: list[ChangeRecord]) -> tuple[list[str], list[str]]:
    """A fresh GET of the message against its expected state: (answered changes it lacks, other problems)."""
    expected = expected_state(record, changes)
    lost: list[str] = []
    problems: list[str] = []
    msg_id = message["msg_id"]

    def missing(part: tuple, what: str) -> None:
        change = expected.answered.get(part)
        if change is not None:
            lost.append(f"{msg_id}: answered {change.kind} {change.value!r} by {change.user} lost ({what})")
        else:
            problems.append(what)

    if message["status"] not in expected.statuses:
        missing(("status",), f"status {message['status']}, expected {expected.statuses}")
    if message["status"] == "normal" and message["content"] not in expected.contents:
        missing(("content",), f"content {message['content']!r}, expected one of {expected.contents}")
    if message["status"] == "recalled" and message["content"] != "":
        problems.append(f"recalled with content {message['content']!r}")
    if message["status"] == "recalled" and message["reactions"]:
        # The recall removes them, those of changes answered before it included.
        problems.append(f"recalled with reactions {message['reactions']}")
    reactions = {r["user_id"]: r["emoji"] for r in message["reactions"]}
    reacted = set(reactions) | set(expected.reactions) if message["status"] == "normal" else set()
    for user in reacted:
        if reactions.get(user) not in expected.reactions.get(user, {None}):
            missing(("reaction", user), f"reaction of {user} {reactions.get(user)!r}, expected {expected.reactions}")
    for change in changes:
        if change.outcome == "refused" and message["status"] != "recalled":
            problems.append(f"{change.kind} by {change.user} refused ({change.answer}) but the message is not recalled")
        if change.outcome == "ok" and change.answer is not None and change.answer["rev"] > message["rev"]:
            problems.append(f"{change.kind} answered rev {change.answer['rev']} > the fresh GET's {message['rev']}")
    return lost, problems


def _check_attachment(traffic: "Traffic", record: "SendRecord", message: dict) -> list[str]:
    """Exactly the one upload, in the ack and the fresh GET; the peer downloads it (404 once recalled)."""
    item = record.upload
    stored_ids = [a["attachment_id"] for a in message["attachments"]]
    if item is None:
        if record.acked_attachments != {()} or stored_ids:
            return [f"attachments {stored_ids} (acks: {record.acked_attachments}) on a send without any"]
        return []
    problems = []
    if record.acked_attachments != {(item.attachment_id,)}:
        problems.append(f"acks name attachments {record.acked_attachments}, uploaded {item.attachment_id}")
    peer = traffic.clients[record.to]
    url = f"/api/v1/attachments/{item.attachment_id}"
    status, data = answered(http_download, peer.rest_port(), url, peer.user.token)
    if message["status"] == "recalled":
        if stored_ids:
            problems.append(f"recalled, still lists attachments {stored_ids}")
        if status != 404:
            problems.append(f"recalled, its attachment answers the peer {status}")
        return problems
    if stored_ids != [item.attachment_id]:
        problems.append(f"fresh GET lists attachments {stored_ids}, uploaded {item.attachment_id}")
        return problems
    (attachment,) = message["attachments"]
    if (attachment["name"], attachment["kind"]) != (item.name, item.kind):
        problems.append(f"attachment {attachment['name']!r} {attachment['kind']}, uploaded {item.name!r} {item.kind}")
    if status != 200:
        problems.append(f"the peer's download answered {status}")
    elif item.kind == "file" and data != item.data:
        problems.append(f"the peer downloaded {len(data)} bytes unlike the {len(item.data)} uploaded")
    elif item.kind == "image" and _pixels(data) != item.pixels:
        problems.append("the peer downloaded an image whose pixels differ from the upload")
    if item.kind == "image":
        status, _ = answered(http_download, peer.rest_port(), attachment["thumbnail_url"], peer.user.token)
        if status != 200:
            problems.append(f"the peer's thumbnail download answered {status}")
    return problems


def _pixels(data: bytes) -> bytes | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB").tobytes()
    except Exception:
        return None


def _brief(message: dict) -> dict:
    keys: Iterable[str] = ("rev", "status", "content", "reactions", "edited_at")
    return {k: message.get(k) for k in keys} | {"attachments": [a["attachment_id"] for a in message["attachments"]]}
