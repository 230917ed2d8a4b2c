"""Where a client keeps what must survive a restart: its sync cursor, the messages it emitted beyond that
cursor, and its outbox. ``MemoryStore`` forgets on exit; ``JsonFileStore`` keeps one JSON file, replaced
atomically (write a temporary file, fsync, rename), so a crash leaves the old state or the new, never half."""

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .models import OutboxEntry


@dataclass
class Saved:
    """``cursor``: the last ``next_since`` whose page was emitted (None: a new client, starts at sync/position).
    ``seen``: msg_id -> rev of messages emitted with a rev above the cursor (pushed, not yet synced past), so a
    restart does not emit them again. ``outbox``: sends not yet acked, in order."""

    cursor: int | None = None
    seen: dict[int, int] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)


class Store(Protocol):
    def load(self) -> Saved: ...

    def save(self, state: Saved) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._state = Saved()

    def load(self) -> Saved:
        return Saved(self._state.cursor, dict(self._state.seen), list(self._state.outbox))

    def save(self, state: Saved) -> None:
        self._state = Saved(state.cursor, dict(state.seen), list(state.outbox))


class JsonFileStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> Saved:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Saved()
        return Saved(
            cursor=data.get("cursor"),
            seen={int(k): v for k, v in (data.get("seen") or {}).items()},
            outbox=[OutboxEntry.from_dict(e) for e in data.get("outbox") or []],
        )

    def save(self, state: Saved) -> None:
        data = {
            "cursor": state.cursor,
            "seen": {str(k): v for k, v in state.seen.items()},
            "outbox": [e.as_dict() for e in state.outbox],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
