"""The sensitive-content filter: moderators' words, matched in one pass.

An Aho-Corasick automaton over all words finds every occurrence in time
linear in the message (plus matches), however many thousand words there
are. Matching ignores case; a ``mask`` word is replaced by ``*`` (one per
character), a ``reject`` word refuses the message. Each process caches the
automaton and rebuilds it when the word list's version in Redis moves (the
admin bumps it on every change).
"""

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

from chat_project.common.errors import InvalidInput
from chat_project.common.redis_client import get_redis, key

from .models import SensitiveWord

VERSION_CHECK_SECONDS = 2.0


def _fold(ch: str) -> str:
    lowered = ch.lower()
    return lowered if len(lowered) == 1 else ch


@dataclass
class _Node:
    children: dict[str, int] = field(default_factory=dict)
    fail: int = 0
    # (length, reject) of every word ending here, own and inherited via fail links.
    outputs: list[tuple[int, bool]] = field(default_factory=list)


class WordMatcher:
    def __init__(self, words: list[tuple[str, bool]]) -> None:
        self.nodes = [_Node()]
        for word, reject in words:
            folded = "".join(_fold(ch) for ch in word)
            if folded:
                self._add(folded, reject)
        self._link()

    def _add(self, word: str, reject: bool) -> None:
        node = 0
        for ch in word:
            nxt = self.nodes[node].children.get(ch)
            if nxt is None:
                nxt = len(self.nodes)
                self.nodes.append(_Node())
                self.nodes[node].children[ch] = nxt
            node = nxt
        self.nodes[node].outputs.append((len(word), reject))

    def _link(self) -> None:
        queue = deque(self.nodes[0].children.values())
        while queue:
            current = queue.popleft()
            for ch, child in self.nodes[current].children.items():
                queue.append(child)
                fail = self.nodes[current].fail
                while fail and ch not in self.nodes[fail].children:
                    fail = self.nodes[fail].fail
                target = self.nodes[fail].children.get(ch, 0)
                self.nodes[child].fail = target if target != child else 0
                self.nodes[child].outputs.extend(self.nodes[self.nodes[child].fail].outputs)

    def apply(self, text: str) -> tuple[str, bool]:
        """Return (text with mask words starred, whether a reject word occurs)."""
        masked: list[tuple[int, int]] = []
        node = 0
        for index, raw in enumerate(text):
            ch = _fold(raw)
            while node and ch not in self.nodes[node].children:
                node = self.nodes[node].fail
            node = self.nodes[node].children.get(ch, 0)
            for length, reject in self.nodes[node].outputs:
                if reject:
                    return text, True
                masked.append((index - length + 1, index + 1))
        if not masked:
            return text, False
        chars = list(text)
        for start, end in masked:
            for position in range(start, end):
                chars[position] = "*"
        return "".join(chars), False


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: str | None = None
        self.checked_at = 0.0
        self.matcher = WordMatcher([])


_cache = _Cache()


def version_key() -> str:
    return key("sensitive", "version")


def bump_version() -> None:
    get_redis().incr(version_key())


def _matcher() -> WordMatcher:
    now = time.monotonic()
    if now - _cache.checked_at < VERSION_CHECK_SECONDS and _cache.version is not None:
        return _cache.matcher
    with _cache.lock:
        version = cast("str | None", get_redis().get(version_key())) or "0"  # redis-py: sync or async reply
        if version != _cache.version:
            words = [
                (word, action == SensitiveWord.Action.REJECT)
                for word, action in SensitiveWord.objects.values_list("word", "action")
            ]
            _cache.matcher = WordMatcher(words)
            _cache.version = version
        _cache.checked_at = now
        return _cache.matcher


def forget_cached_words() -> None:
    """Make this process re-read the word list on its next message (tests, admin)."""
    _cache.version = None


def filter_content(content: str) -> str:
    """The content as it will be stored; raises InvalidInput for a rejected word."""
    result, rejected = _matcher().apply(content)
    if rejected:
        raise InvalidInput.field("content", "The message contains a word that is not allowed.")
    return result
