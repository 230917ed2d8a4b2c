"""HTTP Range requests (RFC 9110 section 14) for stored files: one byte range, or the whole file.

Django's FileResponse answers every request with the whole file. This is the
small part of RFC 9110 a download needs to resume: a single ``bytes=`` range
(``a-b``, ``a-`` or ``-n``) is answered 206 with ``Content-Range``; a range
that starts beyond the end is 416 with ``Content-Range: bytes */<size>``.
Several ranges, another unit, or a malformed header are ignored (the whole
file, 200), as the RFC allows; so is a Range whose ``If-Range`` names another
version of the file.
"""

import re

_SPEC = re.compile(r"(\d*)-(\d*)")
# Longer numbers are out of any file's range; int() of thousands of digits is slow.
_MAX_DIGITS = 19


class Unsatisfiable(Exception):
    """No byte of the range is in the file: answer 416."""


def byte_range(header: str | None, size: int, if_range: str | None = None, etag: str | None = None):
    """(first, last) byte, inclusive, to answer with 206; None for the whole file; raises ``Unsatisfiable``."""
    if not header or (if_range is not None and if_range != etag):
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _SPEC.fullmatch(specs.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS or not (first_text or last_text):
        return None
    if not first_text:  # the last n bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored
    if first >= size:
        raise Unsatisfiable
    return first, min(int(last_text), size - 1) if last_text else size - 1
