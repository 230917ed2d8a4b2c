"""The fault suites' model of edits, reactions and recalls (tests/fault_load.py): what a final state may be.

The fault suites run for minutes; a wrong model there shows up as a false
alarm under a rare timing, or worse as a loss it cannot see. These pin the
rules on made-up histories.
"""

import pytest

from tests.fault_load import ChangeRecord, expected_state, findings
from tests.faults import SendRecord

pytestmark = pytest.mark.unit

SENDER, PEER, MSG = 1, 2, 100


def record() -> SendRecord:
    return SendRecord(SENDER, PEER, "p-1-1", "original", "ws", msg_id=MSG)


def change(kind: str, value: str | None, outcome: str, user: int = SENDER, failures=(), late=False) -> ChangeRecord:
    answer = {"rev": MSG + 1} if outcome == "ok" and kind != "recall" else None
    made = ChangeRecord(user, MSG, kind, value, outcome, answer, maybe_late=late)
    made.failures.update(failures)
    return made


def message(content="original", status="normal", reactions=(), rev=MSG + 5) -> dict:
    return {
        "msg_id": MSG,
        "rev": rev,
        "status": status,
        "content": content,
        "reactions": [{"user_id": u, "emoji": e} for u, e in reactions],
    }


def test_the_last_answered_edit_is_the_content():
    changes = [change("edit", "one", "ok"), change("edit", "two", "ok")]
    assert expected_state(record(), changes).contents == {"two"}
    assert findings(message("two"), record(), changes) == ([], [])


def test_an_answered_edit_missing_is_lost():
    changes = [change("edit", "one", "ok"), change("edit", "two", "ok")]
    lost, problems = findings(message("one"), record(), changes)
    assert len(lost) == 1 and "'two'" in lost[0] and problems == []


def test_an_edit_given_up_after_a_lost_answer_may_or_may_not_have_landed():
    changes = [change("edit", "one", "ok"), change("edit", "two", "unanswered", failures=["dropped"])]
    assert expected_state(record(), changes).contents == {"one", "two"}


def test_an_edit_refused_at_its_first_attempt_did_not_land():
    # The server decided at once: no attempt of it can have been applied.
    changes = [change("edit", "two", "refused")]
    assert expected_state(record(), changes).contents == {"original"}


def test_a_timed_out_attempt_may_land_after_a_later_edit():
    changes = [change("edit", "one", "ok", failures=["timeout"], late=True), change("edit", "two", "ok")]
    assert expected_state(record(), changes).contents == {"one", "two"}


def test_reactions_are_per_user_and_a_removal_is_none():
    changes = [change("react", "👍", "ok", user=PEER), change("unreact", None, "ok", user=PEER)]
    assert expected_state(record(), changes).reactions[PEER] == {None}
    lost, _ = findings(message(reactions=[(PEER, "👍")]), record(), changes)
    assert len(lost) == 1
    _, problems = findings(message(reactions=[(SENDER, "👍")]), record(), changes)
    assert problems, "a reaction nobody asked for"


def test_a_refusal_demands_a_recalled_message():
    changes = [change("recall", None, "ok"), change("react", "🎉", "refused", user=PEER)]
    assert expected_state(record(), changes).statuses == {"recalled"}
    assert findings(message("", status="recalled"), record(), changes) == ([], [])
    lost, problems = findings(message(), record(), changes)
    assert len(lost) == 1 and any("refused" in p for p in problems)


def test_an_answer_newer_than_the_fresh_state_is_a_problem():
    changes = [change("edit", "one", "ok")]
    _, problems = findings(message("one", rev=MSG), record(), changes)
    assert any("rev" in p for p in problems)
