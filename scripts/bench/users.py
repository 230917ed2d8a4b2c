"""Users for the benchmark: registered over REST (the load pairs) or made in bulk (idle sockets, peers)."""

import http.client
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import system

PASSWORD = "bench-pass-123"


class Api:
    """A REST client on one kept-alive connection (as an API client would hold it)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 204)):
        raw = self.fetch(method, path, body, expect)
        return json.loads(raw) if raw else None

    def fetch(self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 204)) -> bytes:
        """The answer's body, read to its last byte and not decoded: what a timing of the server should stop at."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Token " + self.token
        data = json.dumps(body) if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, "/api/v1/" + path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return raw

    def timed(self, path: str) -> float:
        """Seconds to the last byte of a GET's answer (the client's JSON decoding is the client's, not counted)."""
        started = time.perf_counter()
        self.fetch("GET", path)
        return time.perf_counter() - started

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def register(port: int, names: list[str], threads: int = 4) -> list[dict]:
    """POST auth/register for each name (in a few threads: each one hashes a password)."""

    def one(name: str) -> dict:
        api = Api(port)
        try:
            return api.call("POST", "auth/register", {"username": name, "password": PASSWORD, "nickname": name})
        finally:
            api.close()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, names))


def bulk(prefix: str, count: int, env: dict[str, str] | None = None) -> list[dict]:
    """``count`` users named ``<prefix><i>`` with tokens, made (or found) straight in the bench database.

    No password hashing: ten thousand idle users in seconds. Reused by later runs.
    """
    out = subprocess.run(
        [sys.executable, "-m", "scripts.bench.mkusers", prefix, str(count)],
        cwd=system.ROOT,
        env=env or system.bench_env(),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError("making users failed:\n" + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])
