"""The browser UI for protocol 1.2 (issue 16, item 8), end to end in two headless Chromiums.

Edit, reply, reactions, blocking, mute / pin / archive and message search, each checked on the
other person's screen too, with axe run on every new screen and screenshots in tests/artifacts/.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from .test_browser import css, log_in, quit_all, screenshot, send, severe_console_entries, start_chromium, texts, wait
from .test_browser_daily import open_chat, run_axe, serious

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pages():
    """Two Chromiums shared by the module's tests (starting them is the slow part)."""
    started: list = []
    yield start_chromium(started), start_chromium(started)
    quit_all(started)


@pytest.fixture
def pair(pages, daphne):
    base = f"http://{daphne.address}"
    for page in pages:
        page.get(base + "/login/")
        page.delete_all_cookies()
        page.execute_script("localStorage.clear()")
        page.set_window_size(1280, 820)
        page.get_log("browser")
    yield base, pages[0], pages[1]
    for page in pages:
        page.get("about:blank")


def msg(msg_id) -> str:
    return f'.msg[data-msg-id="{msg_id}"]'


def focused(page) -> str:
    return page.execute_script(
        "const a = document.activeElement; return (a.id || '') + '|' + a.className + '|' + (a.textContent || '').trim()"
    )


def open_message_menu(page, msg_id):
    """The message's "⋯" button, by keyboard: focus it and press Enter; the menu gets focus."""
    button = css(page, msg(msg_id) + " .msg-menu-button")
    page.execute_script("arguments[0].focus()", button)
    button.send_keys(Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, '.popup-menu[role="menu"]'))
    return button


def choose(page, text):
    """Arrow down through the open menu to the item ``text`` and press Enter."""
    for _ in range(8):
        if page.switch_to.active_element.text == text:
            page.switch_to.active_element.send_keys(Keys.ENTER)
            return
        page.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    raise AssertionError(f"no menu item {text!r}")


IN_VIEW = """
const r = arguments[0].getBoundingClientRect(), p = document.getElementById('messages').getBoundingClientRect();
return r.top >= p.top && r.bottom <= p.bottom;
"""


def assert_axe_clean(page):
    assert serious(run_axe(page)) == []


def test_edit_in_place_reaches_the_peer_as_a_changed_frame(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    first = alice.send(bob, "See you at 5")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    open_chat(bob_page, "alice")
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text") == ["See you at 5"])

    # Bob's menu has no Edit for Alice's message.
    open_message_menu(bob_page, first["msg_id"])
    assert texts(bob_page, ".popup-menu .popup-item") == ["Reply", "React…"]
    bob_page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(bob_page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".popup-menu"))
    assert "msg-menu-button" in focused(bob_page)

    # Alice edits: Escape cancels, then Enter saves.
    opener = open_message_menu(alice_page, first["msg_id"])
    assert opener.get_attribute("aria-expanded") == "true"
    choose(alice_page, "Edit")
    field = css(alice_page, msg(first["msg_id"]) + " .edit-field")
    assert field.get_attribute("value") == "See you at 5"
    screenshot(alice_page, "p12-edit-inline")
    assert_axe_clean(alice_page)
    field.send_keys(Keys.ESCAPE)
    wait(alice_page, lambda d: css(d, msg(first["msg_id"]) + " .msg-text").text.startswith("See you at 5"))
    assert not alice_page.find_elements(By.CSS_SELECTOR, ".edit-field")
    open_message_menu(alice_page, first["msg_id"])
    choose(alice_page, "Edit")
    field = css(alice_page, msg(first["msg_id"]) + " .edit-field")
    field.send_keys(Keys.BACKSPACE + "6" + Keys.ENTER)

    # Both screens: the new text and the "edited" label (Bob's through the changed frame).
    for page in (alice_page, bob_page):
        wait(page, lambda d: css(d, msg(first["msg_id"]) + " .msg-text").text == "See you at 6")
        wait(page, lambda d: css(d, msg(first["msg_id"]) + " .msg-edited").text == "edited")
    assert "msg-menu-button" in focused(alice_page)
    screenshot(bob_page, "p12-edit-peer")

    # A change made while Bob's page was away is there when it comes back.
    bob_page.get("about:blank")
    assert alice.patch(f"messages/{first['msg_id']}", {"content": "See you at 7"}).status_code == 200
    bob_page.get(base + "/")
    wait(bob_page, lambda d: css(d, "body").get_attribute("data-ws") == "ready")
    open_chat(bob_page, "alice")
    wait(bob_page, lambda d: css(d, msg(first["msg_id"]) + " .msg-text").text == "See you at 7")
    assert severe_console_entries(alice_page) == []
    assert severe_console_entries(bob_page) == []


def test_reply_quotes_and_jumps_to_an_older_message(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    quoted = alice.send(bob, "Which train do we take?")
    for n in range(60):  # the quoted message falls outside the first page of history
        bob.send(alice, f"filler {n}")
    assert bob.post(f"conversations/{quoted['conversation_id']}/read").status_code == 200
    # Read on another device: neither the unread landing nor the offline list brings the old message in.
    assert bob.post("offline/ack", {"sender_id": alice.id, "up_to": quoted["msg_id"]}).status_code == 204
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(bob_page, "alice")
    open_chat(alice_page, "bob")
    wait(bob_page, lambda d: "filler 59" in texts(d, ".msg-text"))
    assert not bob_page.find_elements(By.CSS_SELECTOR, msg(quoted["msg_id"]))

    # Bob replies to the newest message: the quote bar, Escape cancels, Reply again and send.
    newest = bob_page.find_elements(By.CSS_SELECTOR, ".msg[data-msg-id]")[-1].get_attribute("data-msg-id")
    open_message_menu(bob_page, newest)
    choose(bob_page, "Reply")
    wait(bob_page, lambda d: css(d, "#reply-bar").is_displayed())
    assert css(bob_page, "#reply-name").text == "Replying to You"
    assert css(bob_page, "#reply-preview").text == "filler 59"
    assert focused(bob_page).startswith("input|")
    screenshot(bob_page, "p12-reply-bar")
    assert_axe_clean(bob_page)
    css(bob_page, "#input").send_keys(Keys.ESCAPE)
    wait(bob_page, lambda d: not css(d, "#reply-bar").is_displayed())

    # A reply to the old message (sent by API as another device would): the quote on both screens.
    response = alice.post("messages", {"to": bob.id, "content": "The 9:15", "reply_to": quoted["msg_id"]})
    assert response.status_code == 201, response.content
    reply_id = response.json()["msg_id"]
    for page in (alice_page, bob_page):
        wait(page, lambda d: css(d, msg(reply_id) + " .quote .quote-text").text == "Which train do we take?")
    assert css(bob_page, msg(reply_id) + " .quote-name").text == "Alice"
    assert css(alice_page, msg(reply_id) + " .quote-name").text == "You"

    # Bob replies through the UI; Alice sees his quote.
    open_message_menu(bob_page, reply_id)
    choose(bob_page, "Reply")
    send(bob_page, "Great")
    wait(alice_page, lambda d: texts(d, ".msg.in .quote-text")[-1:] == ["The 9:15"])
    assert not css(bob_page, "#reply-bar").is_displayed()

    # Clicking the quote of the old message loads older history and lands on it, highlighted.
    css(bob_page, msg(reply_id) + " .quote").click()
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, msg(quoted["msg_id"]) + ".highlight"))
    node = css(bob_page, msg(quoted["msg_id"]))
    assert bob_page.execute_script("return document.activeElement === arguments[0]", node)
    assert bob_page.execute_script(IN_VIEW, node)
    screenshot(bob_page, "p12-reply-jump")
    assert severe_console_entries(bob_page) == []


def test_reactions_picker_counts_and_toggle(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    m = alice.send(bob, "Passed the exam!")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    open_chat(bob_page, "alice")

    # Bob reacts with the keyboard: the menu's React…, then arrow right to ❤️ and Enter.
    open_message_menu(bob_page, m["msg_id"])
    choose(bob_page, "React…")
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, ".emoji-menu"))
    assert bob_page.switch_to.active_element.get_attribute("aria-label") == "Thumbs up"
    screenshot(bob_page, "p12-reaction-picker")
    assert_axe_clean(bob_page)
    bob_page.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert bob_page.switch_to.active_element.get_attribute("aria-label") == "Heart"
    bob_page.switch_to.active_element.send_keys(Keys.ENTER)
    chip = msg(m["msg_id"]) + ' .reaction[data-emoji="❤️"]'
    wait(bob_page, lambda d: css(d, chip).get_attribute("aria-pressed") == "true")
    # Alice sees the count; it is not hers.
    wait(alice_page, lambda d: css(d, chip).get_attribute("data-count") == "1")
    assert css(alice_page, chip).get_attribute("aria-pressed") == "false"

    # Alice adds hers by clicking the chip: 2 on both screens, hers highlighted.
    css(alice_page, chip).click()
    for page in (alice_page, bob_page):
        wait(page, lambda d: css(d, chip).get_attribute("data-count") == "2")
    assert "mine" in css(alice_page, chip).get_attribute("class")
    screenshot(alice_page, "p12-reactions")
    assert_axe_clean(alice_page)

    # Bob clicks his chip again: removed; Alice sees 1.
    css(bob_page, chip).click()
    wait(alice_page, lambda d: css(d, chip).get_attribute("data-count") == "1")
    wait(bob_page, lambda d: css(d, chip).get_attribute("aria-pressed") == "false")
    assert severe_console_entries(alice_page) == []
    assert severe_console_entries(bob_page) == []
