"""The served OpenAPI schema tells a client every answer it can get, and holds.

Read as a client reads it (``/api/schema/``): every operation documents its
errors in the one Error shape, its integer ids and its examples; the
examples fit their own schemas; and schemathesis, generating requests from
the schema against a real daphne, finds no answer that the schema does not
describe (status, content type, body).
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import jsonschema
import pytest

from .conftest import API, PASSWORD
from .endpoints import EXTENSION_OPERATIONS, PROTOCOL_OPERATIONS, PUBLIC
from .live import ROOT

MAX_ID = 2**53 - 1
METHODS = ("get", "post", "put", "patch", "delete")
# Where a client can meet a rate limit (README "Settings"); 429 must be documented there.
RATE_LIMITED = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/messages"),
    ("post", "/api/v1/attachments"),
    ("patch", "/api/v1/messages/{msg_id}"),
    ("put", "/api/v1/messages/{msg_id}/reaction"),
    ("delete", "/api/v1/messages/{msg_id}/reaction"),
    ("put", "/api/v1/users/{user_id}/block"),
    ("delete", "/api/v1/users/{user_id}/block"),
    ("patch", "/api/v1/conversations/{conversation_id}"),
    ("get", "/api/v1/search"),
    ("post", "/api/v1/push/subscriptions"),
    ("delete", "/api/v1/push/subscriptions"),
}
ERROR_REF = "#/components/schemas/Error"
# Schemathesis: examples per operation, and a fixed seed so the suite does the same thing every run.
# To explore further: CHAT_SCHEMATHESIS_SEED=<n> CHAT_SCHEMATHESIS_EXAMPLES=200 pytest -k schemathesis
MAX_EXAMPLES = int(os.environ.get("CHAT_SCHEMATHESIS_EXAMPLES", "30"))
SEED = int(os.environ.get("CHAT_SCHEMATHESIS_SEED", "20261127"))


@pytest.fixture
def schema(anonymous, db) -> dict:
    response = anonymous.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(schema: dict, node):
    """``node`` with every $ref inlined and OpenAPI 3.0's ``nullable`` as JSON Schema's null type."""
    if isinstance(node, list):
        return [resolve(schema, item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        return resolve(schema, schema["components"]["schemas"][name])
    result = {key: resolve(schema, value) for key, value in node.items()}
    if result.pop("nullable", False):
        result = {"anyOf": [result, {"type": "null"}]}
    return result


# --- the endpoints and the docs page -------------------------------------------


def test_schema_lists_every_endpoint(anonymous, db):
    response = anonymous.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    served = {
        (method, path.removeprefix("/api/v1/"))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    # Exactly PROTOCOL.md's paths, written as it writes them (no trailing slash), and the extensions.
    expected = PROTOCOL_OPERATIONS | EXTENSION_OPERATIONS
    assert served == expected, served ^ expected
    operation_ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert anonymous.get("/api/schema").status_code == 200
    assert b"/api/v1/messages" in anonymous.get("/api/schema/").content


def test_docs_page_is_served(anonymous, db):
    response = anonymous.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert anonymous.get("/api/docs").status_code == 200


# --- what the schema says ------------------------------------------------------


def test_every_operation_lists_its_errors_in_the_error_shape(schema):
    for method, path, operation in operations(schema):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        statuses = set(responses)
        assert any(s.startswith("2") for s in statuses), where
        expected = {"405", "406", "503"}
        if (method, path) not in PUBLIC:
            expected.add("401")
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add("404")
        if (method, path) in RATE_LIMITED:
            expected.add("429")
        assert expected <= statuses, (where, expected - statuses)
        for status, response in responses.items():
            if int(status) < 400:
                continue
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": ERROR_REF}, (where, status)
            (example,) = content["examples"].values()
            assert example["value"]["code"], (where, status)
            assert response["description"].startswith(example["value"]["code"]), (where, status)
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"] is True, where


def test_the_error_component_is_protocol_shaped(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "detail"}
    assert error["properties"]["errors"] == {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": error["properties"]["errors"]["description"],
    }


def test_every_operation_has_a_summary_a_description_and_examples(schema):
    for method, path, operation in operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        success = [r for s, r in operation["responses"].items() if s.startswith("2") and "content" in r]
        for response in success:
            if "application/json" in response["content"]:
                assert response["content"]["application/json"].get("examples"), where
            else:  # file bytes (attachments): their description says what they are
                assert all(c["schema"]["format"] == "binary" for c in response["content"].values()), where
                assert response["description"], where
        if "requestBody" in operation:
            for media_type, content in operation["requestBody"]["content"].items():
                assert content.get("examples"), (where, media_type)


def test_ids_and_cursors_are_integers_below_2_53(schema):
    for _method, path, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" or parameter["name"] in ("before", "after", "since"):
                assert parameter["schema"]["type"] == "integer", (path, parameter)
                assert parameter["schema"]["maximum"] == MAX_ID, (path, parameter)
            if parameter["in"] == "path":
                assert parameter["required"] is True
    components = schema["components"]["schemas"]
    for name in ("msg_id", "conversation_id", "sender_id", "recipient_id"):
        assert components["Message"]["properties"][name]["maximum"] == MAX_ID


def test_the_request_rules_are_the_servers(schema):
    components = schema["components"]["schemas"]
    register = components["RegisterRequest"]["properties"]
    assert register["username"]["maxLength"] == 150 and register["username"]["pattern"] == r"^[\w.@+-]+$"
    assert (register["password"]["minLength"], register["password"]["maxLength"]) == (8, 128)
    assert register["nickname"]["maxLength"] == 64
    send = components["SendRequest"]["properties"]
    # Version 1.2: "" is allowed with attachments (the server checks the pair), white space alone never.
    assert "minLength" not in send["content"] and send["content"]["maxLength"] == 4000
    assert send["content"]["pattern"] == r"^$|\S"
    assert send["attachments"]["maxItems"] == 10 and "attachments" not in components["SendRequest"].get("required", [])
    assert send["attachments"]["items"]["minimum"] == 1
    assert (send["client_msg_id"]["minLength"], send["client_msg_id"]["maxLength"]) == (1, 64)
    sync = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/sync"]["get"]["parameters"]}
    assert (sync["limit"]["minimum"], sync["limit"]["maximum"]) == (1, 1000)


def test_the_schema_states_the_contracts_version(schema):
    """A client generated from the schema sees the version the guide describes (1.2), not an older one."""
    guide = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert "This is version 1.2 of the contract" in guide
    assert schema["info"]["version"] == "1.2"


def test_the_objects_have_the_version_1_1_fields(schema):
    components = resolve(schema, schema["components"]["schemas"])
    for name, fields in (
        ("Profile", {"is_active", "last_seen"}),
        ("Conversation", {"peer_read_up_to"}),
        ("Message", {"recalled_by", "attachments"}),
    ):
        assert fields <= set(components[name]["required"]), name
    profile = components["Profile"]["properties"]
    assert profile["is_active"]["type"] == "boolean"
    assert {"type": "null"} in profile["last_seen"]["anyOf"]
    assert {"type": "null"} in components["Conversation"]["properties"]["peer_read_up_to"]["anyOf"]
    recalled_by = components["Message"]["properties"]["recalled_by"]
    jsonschema.validate("moderator", recalled_by)
    jsonschema.validate(None, recalled_by)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("someone", recalled_by)


def test_every_example_fits_its_own_schema(schema):
    checked = 0
    for _method, _path, operation in operations(schema):
        bodies = [operation.get("requestBody", {}).get("content", {}).get("application/json")]
        bodies += [r.get("content", {}).get("application/json") for r in operation["responses"].values()]
        for body in filter(None, bodies):
            for example in body.get("examples", {}).values():
                jsonschema.validate(example["value"], resolve(schema, body["schema"]))
                checked += 1
    assert checked > 100


def test_the_docs_describe_the_websocket(schema):
    description = schema["info"]["description"]
    for frame in ("ready", "send", "ack", "message", "unread", "recalled", "watch", "presence", "resync"):
        assert f'"type": "{frame}"' in description or f'"type":"{frame}"' in description, frame
    assert "4401" in description


# --- schemathesis against a real server ----------------------------------------


def http(server, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict | None:
    request = urllib.request.Request(
        f"http://{server.address}{API}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None
    return json.loads(raw) if raw else None


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_schemathesis_finds_no_answer_the_schema_does_not_describe(daphne, transactional_db, tmp_path):
    """Generated requests (valid and invalid) to every operation; every answer must fit the schema."""
    alice = http(daphne, "POST", "auth/register", {"username": "alice", "password": PASSWORD, "nickname": "Alice"})
    bob = http(daphne, "POST", "auth/register", {"username": "bob", "password": PASSWORD})
    # Something in every list: a conversation, an offline message, unread, a read receipt, a recall.
    for n in range(3):
        http(daphne, "POST", "messages", {"to": alice["user_id"], "content": f"hi {n}"}, bob["token"])
    sent = http(
        daphne, "POST", "messages", {"to": bob["user_id"], "content": "hello", "client_msg_id": "a1"}, alice["token"]
    )
    http(daphne, "POST", f"conversations/{sent['conversation_id']}/read", {}, bob["token"])
    http(daphne, "DELETE", f"messages/{sent['msg_id']}", None, alice["token"])

    report = tmp_path / "schemathesis.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"http://{daphne.address}/api/schema/",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--header",
        f"Authorization: Token {alice['token']}",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--report",
        "json,ndjson",
        "--report-ndjson-path",
        str(tmp_path / "events.ndjson"),
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    # Run in tmp_path: schemathesis keeps a cache directory in its working directory.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=200, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    summary = json.loads(report.read_text())
    operations, cases = summary["operations"], summary["test_cases"]
    # Every operation was exercised, each with many cases, and none broke a check.
    assert operations["tested"] == operations["total"] >= 17, operations
    assert cases["generated"] >= 10 * operations["total"], cases
    assert (cases["with_failures"], cases["errored"], summary["failures"]) == (0, 0, []), summary
    print(f"schemathesis: {operations['tested']} operations, {cases['generated']} cases, 0 failures")
