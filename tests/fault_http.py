"""The fault suites' HTTP calls (tests/faults.py, tests/fault_load.py): JSON, a multipart upload, raw bytes.

Each answers ``(status, body)``, or raises ``ConnectionError`` when the
server gave no answer (refused, reset, timed out): the caller sends again.
A time-out says so in its message (``timed_out``): such a request may still
be running on the server and take effect later.
"""

import http.client
import json
import os
import urllib.error
import urllib.request


def netloc(port: int | str) -> str:
    """A loopback port, or an address "host:port" as it is (the cluster's hosts)."""
    return port if isinstance(port, str) else f"127.0.0.1:{port}"


def timed_out(error: ConnectionError) -> bool:
    """The request went out and no answer came in time (so it may still land later)."""
    return "timed out" in str(error)


def _open(port: int | str, request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(f"{request.get_method()} {request.full_url} on :{port}: {exc!r}") from None


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def http_call(port: int | str, method: str, path: str, token: str | None, body=None, timeout: float = 15) -> tuple:
    """(status, parsed JSON body or None); ConnectionError when the server did not answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{netloc(port)}/api/v1/{path}", data=data, method=method, headers=headers)
    status, raw = _open(port, request, timeout)
    return status, _json(raw)


def http_upload(port: int | str, token: str, name: str, data: bytes, timeout: float = 15) -> tuple:
    """``POST attachments`` with the one multipart field ``file``: (status, parsed JSON body or None)."""
    boundary = "fault-" + os.urandom(12).hex()
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Token {token}"}
    request = urllib.request.Request(
        f"http://{netloc(port)}/api/v1/attachments", data=body, method="POST", headers=headers
    )
    status, raw = _open(port, request, timeout)
    return status, _json(raw)


def http_download(port: int | str, url: str, token: str, timeout: float = 15) -> tuple[int, bytes]:
    """GET of a server path (an attachment's ``url``): (status, the bytes of the answer)."""
    request = urllib.request.Request(f"http://{netloc(port)}{url}", headers={"Authorization": f"Token {token}"})
    return _open(port, request, timeout)
