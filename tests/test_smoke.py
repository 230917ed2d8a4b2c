from .conftest import API


def test_health_reports_database_and_redis(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_register_send_and_list(alice, bob):
    sent = alice.send(bob, "hi 👋")
    page = bob.get("conversations").json()
    assert [c["conversation_id"] for c in page["results"]] == [sent["conversation_id"]]
    assert page["results"][0]["peer"]["username"] == "alice"
    assert page["results"][0]["last_message"]["content"] == "hi 👋"
    assert page["results"][0]["unread"] == 1
    assert bob.get("unread").json() == {"total": 1, "conversations": {str(sent["conversation_id"]): 1}}


def test_unknown_api_path_is_json_404(anonymous, db):
    response = anonymous.get(API + "nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
