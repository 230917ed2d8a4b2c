"""Numbered fan-out events: how a socket notices a push the channel layer dropped."""


class PushSequence:
    """Tells a socket that it missed one of its user's fan-out events.

    The channel layer drops events when a process's queue is full or an event
    expires (DESIGN.md), silently. Each fan-out event to a user, and each
    change's event (messaging/changes.py), carries the next number of a
    per-user counter; a socket notes the numbers it received,
    and at each heartbeat checks that everything numbered up to the counter
    as it stood at the previous heartbeat arrived (one heartbeat of grace for
    events still in flight). A gap means a push was lost: the socket sends
    ``resync`` and its client catches up with ``sync``.
    """

    def __init__(self, current: int) -> None:
        self.done = current  # every event numbered up to here arrived (or came before this socket)
        self.ahead: set[int] = set()
        self.checkpoint: int | None = None

    def saw(self, seq: int) -> None:
        if seq <= self.done:
            return
        self.ahead.add(seq)
        while self.done + 1 in self.ahead:
            self.done += 1
            self.ahead.discard(self.done)

    def check(self, current: int) -> bool:
        """At a heartbeat, with the counter's value now: was an event lost?"""
        missed = False
        if current < self.done:
            # The counter restarted (a Redis flush); the registration repair resyncs.
            self.done, self.ahead = current, set()
        elif self.checkpoint is not None and self.done < self.checkpoint:
            missed = True
            self.done = self.checkpoint
            self.ahead = {seq for seq in self.ahead if seq > self.done}
            while self.done + 1 in self.ahead:
                self.done += 1
                self.ahead.discard(self.done)
        self.checkpoint = current
        return missed
