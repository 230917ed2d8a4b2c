"""Schemathesis hooks for tests/test_schema.py (loaded through SCHEMATHESIS_HOOKS).

A username must be unique, which no schema can say: generated registrations
would mostly repeat a few short names and be refused as taken. Each one gets
a unique suffix (still within the username rules), so most of them register.
"""

import itertools

import schemathesis

_serial = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if case.operation.path != "/api/v1/auth/register" or not isinstance(case.body, dict):
        return
    username = case.body.get("username")
    if isinstance(username, str) and 0 < len(username) <= 140:
        case.body["username"] = f"{username}_{next(_serial)}"
