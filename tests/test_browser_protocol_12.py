"""The browser UI for protocol 1.2 (issue 16, item 8), end to end in two headless Chromiums.

Edit, reply, reactions, blocking, mute / pin / archive and message search, each checked on the
other person's screen too, with axe run on every new screen and screenshots in tests/artifacts/.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from .test_browser import (
    css,
    log_in,
    quit_all,
    screenshot,
    send,
    severe_console_entries,
    start_chromium,
    texts,
    wait,
    wait_ws_ready,
)
from .test_browser_daily import conv, open_chat, run_axe, serious

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

    # Bob's menu has no Edit for Alice's message; ArrowUp in the empty composer reaches it.
    css(bob_page, "#input").send_keys(Keys.ARROW_UP)
    button = css(bob_page, msg(first["msg_id"]) + " .msg-menu-button")
    assert bob_page.execute_script("return document.activeElement === arguments[0]", button)
    button.send_keys(Keys.ENTER)
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, '.popup-menu[role="menu"]'))
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
    wait_ws_ready(bob_page)
    open_chat(bob_page, "alice")
    wait(bob_page, lambda d: css(d, msg(first["msg_id"]) + " .msg-text").text == "See you at 7")
    assert severe_console_entries(alice_page) == []
    assert severe_console_entries(bob_page) == []


LEAVE_PAGE = "window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}))"
COME_BACK = "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"


def test_catch_up_by_rev_brings_a_change_made_while_away(daphne, celery_worker, alice, bob, pair):
    """A change to a message outside the newest page reaches a reconnecting page only by sync?since=<rev>."""
    base, _, bob_page = pair
    old = alice.send(bob, "Meeting on Monday")
    for n in range(55):
        alice.send(bob, f"news {n}")
    assert bob.post(f"conversations/{old['conversation_id']}/read").status_code == 200
    assert bob.post("offline/ack", {"sender_id": alice.id, "up_to": old["msg_id"] + 10**12}).status_code == 204
    log_in(bob_page, base, bob.username)
    open_chat(bob_page, "alice")

    def older_loaded(d):
        if d.find_elements(By.CSS_SELECTOR, msg(old["msg_id"])):
            return True
        # The button, or the pane's own scroll at the top, pages in the older messages.
        d.execute_script("const b = document.getElementById('load-older'); if (!b.hidden) b.click()")
        return False

    wait(bob_page, older_loaded)

    # Bob's page goes away (its socket closes); Alice edits the old message and reacts to it.
    bob_page.execute_script(LEAVE_PAGE)  # closes the socket at once: no frame reaches the page from here on
    assert alice.patch(f"messages/{old['msg_id']}", {"content": "Meeting on Tuesday"}).status_code == 200
    assert (
        alice.client.put(f"/api/v1/messages/{old['msg_id']}/reaction", {"emoji": "👍"}, format="json").status_code
        == 200
    )
    bob_page.execute_script(COME_BACK)
    wait_ws_ready(bob_page)
    wait(bob_page, lambda d: css(d, msg(old["msg_id"]) + " .msg-text").text == "Meeting on Tuesday")
    assert css(bob_page, msg(old["msg_id"]) + " .msg-edited").text == "edited"
    assert css(bob_page, msg(old["msg_id"]) + ' .reaction[data-emoji="👍"]').get_attribute("data-count") == "1"
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


def test_block_and_unblock_from_the_chat_header(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    alice.send(bob, "hello")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    open_chat(bob_page, "alice")
    assert css(alice_page, "#block-button").get_attribute("aria-label") == "Block Bob"

    # Block asks first; Cancel changes nothing and gives focus back.
    css(alice_page, "#block-button").click()
    wait(alice_page, lambda d: css(d, "#block-dialog").get_attribute("open") is not None)
    assert css(alice_page, "#block-title").text == "Block Bob?"
    screenshot(alice_page, "p12-block-confirm")
    assert_axe_clean(alice_page)
    css(alice_page, "#block-cancel").click()
    wait(alice_page, lambda d: focused(d).startswith("block-button|"))
    assert not css(alice_page, "#blocked-notice").is_displayed()

    css(alice_page, "#block-button").click()
    wait(alice_page, lambda d: css(d, "#block-dialog").get_attribute("open") is not None)
    css(alice_page, "#block-ok").click()
    wait(alice_page, lambda d: css(d, "#blocked-notice").is_displayed())
    assert "You blocked Bob" in css(alice_page, "#blocked-notice").text
    assert css(alice_page, "#input").get_attribute("disabled") is not None
    assert css(alice_page, "#block-button").text == "Unblock"
    assert [p["username"] for p in alice.get("blocks").json()["results"]] == ["bob"]
    screenshot(alice_page, "p12-blocked")
    assert_axe_clean(alice_page)

    # Bob's screen (the chat opened again): the notice, and he cannot write; the history stays.
    bob_page.refresh()
    wait(bob_page, lambda d: css(d, "#blocked-notice").is_displayed())
    assert "send messages in this chat" in css(bob_page, "#blocked-notice").text
    assert css(bob_page, "#input").get_attribute("disabled") is not None
    # The notice comes with the conversation, the history with its own request just after.
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text") == ["hello"])
    assert css(bob_page, "#block-button").text == "Block"  # he does not block Alice
    screenshot(bob_page, "p12-blocked-peer")
    assert_axe_clean(bob_page)

    # After a reload Alice still sees Unblock (GET blocks); unblocking opens the composer for both.
    alice_page.refresh()
    wait(alice_page, lambda d: css(d, "#block-button").text == "Unblock")
    css(alice_page, "#block-button").click()
    wait(alice_page, lambda d: not css(d, "#blocked-notice").is_displayed())
    assert css(alice_page, "#input").get_attribute("disabled") is None
    send(alice_page, "sorry, misclick")
    bob_page.refresh()
    wait(bob_page, lambda d: "sorry, misclick" in texts(d, ".msg.in .msg-text"))
    assert not css(bob_page, "#blocked-notice").is_displayed()
    assert css(bob_page, "#input").get_attribute("disabled") is None


def open_conversation_menu(page, username):
    button = wait(page, lambda d: css(d, f'.conv-row:has(.conv[data-peer="{username}"]) .conv-menu-button'))
    page.execute_script("arguments[0].focus()", button)
    button.send_keys(Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, '.popup-menu[role="menu"]'))


def test_pin_mute_and_archive_from_the_list(daphne, celery_worker, alice, bob, carol, pair):
    base, alice_page, bob_page = pair
    alice.send(carol, "older chat")
    bob.send(alice, "newer chat")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    wait(
        alice_page,
        lambda d: [c.get_attribute("data-peer") for c in d.find_elements(By.CSS_SELECTOR, ".conv")] == ["bob", "carol"],
    )

    # Pin Carol: on top, with a pin; the menu works by keyboard and gives focus back.
    open_conversation_menu(alice_page, "carol")
    screenshot(alice_page, "p12-conversation-menu")
    assert_axe_clean(alice_page)
    choose(alice_page, "Pin")
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, conv("carol") + " .pin-flag"))
    assert [c.get_attribute("data-peer") for c in alice_page.find_elements(By.CSS_SELECTOR, ".conv")] == [
        "carol",
        "bob",
    ]
    assert "conv-menu-button" in focused(alice_page)

    # Mute Bob: the muted icon; a new message from him counts but does not flash in the title.
    open_conversation_menu(alice_page, "bob")
    choose(alice_page, "Mute")
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, conv("bob") + " .muted-flag"))
    bob.send(alice, "are you there?")
    wait(alice_page, lambda d: css(d, conv("bob") + " .badge").get_attribute("data-count") == "2")
    assert alice_page.title == "Chat"
    # Settings are Alice's alone: Bob's list has no pin or muted icon.
    assert not bob_page.find_elements(By.CSS_SELECTOR, ".conv-flag")
    screenshot(alice_page, "p12-pinned-muted")

    # Archive Bob: he leaves the list; the Archived view shows him, and leads back.
    open_conversation_menu(alice_page, "bob")
    choose(alice_page, "Archive")
    wait(alice_page, lambda d: not d.find_elements(By.CSS_SELECTOR, conv("bob")))
    assert focused(alice_page).startswith("archived-open|")
    css(alice_page, "#archived-open").send_keys(Keys.ENTER)
    wait(
        alice_page,
        lambda d: [c.get_attribute("data-peer") for c in d.find_elements(By.CSS_SELECTOR, ".conv")] == ["bob"],
    )
    assert css(alice_page, "#archived-header").is_displayed()
    screenshot(alice_page, "p12-archived-view")
    assert_axe_clean(alice_page)
    # A new message leaves it archived (and Bob, whose own list is untouched, sees his chat as ever).
    bob_page.find_element(By.CSS_SELECTOR, conv("alice")).click()
    send(bob_page, "still archived?")
    wait(alice_page, lambda d: css(d, conv("bob") + " .item-preview").text == "still archived?")
    css(alice_page, "#archived-back").click()
    wait(
        alice_page,
        lambda d: [c.get_attribute("data-peer") for c in d.find_elements(By.CSS_SELECTOR, ".conv")] == ["carol"],
    )
    assert focused(alice_page).startswith("archived-open|")

    # Unarchive from the Archived view: back in the list.
    css(alice_page, "#archived-open").click()
    open_conversation_menu(alice_page, "bob")
    choose(alice_page, "Unarchive")
    css(alice_page, "#archived-back").click()
    wait(
        alice_page,
        lambda d: [c.get_attribute("data-peer") for c in d.find_elements(By.CSS_SELECTOR, ".conv")] == ["carol", "bob"],
    )
    assert severe_console_entries(alice_page) == []


def test_message_search_highlights_and_jumps_to_the_message(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    target = bob.send(alice, "The <b>train</b> leaves at 9:15 from platform 4")
    for n in range(55):
        alice.send(bob, f"chatter {n}")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)

    # Alice searches: sender, snippet with the match marked (as text, never HTML), time.
    css(alice_page, "#message-search").send_keys("TRAIN platform")
    result = f'#message-results button.found[data-msg-id="{target["msg_id"]}"]'
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, result))
    assert not css(alice_page, "#conversations").is_displayed()
    assert css(alice_page, result + " .item-name").text == "Bob"
    assert texts(alice_page, result + " mark") == ["train", "platform"]
    assert "<b>" in css(alice_page, result + " .found-snippet").text
    assert css(alice_page, result + " .item-time").text
    screenshot(alice_page, "p12-search-results")
    assert_axe_clean(alice_page)

    # Keyboard: arrow down to the result, Enter: the chat opens at the message, highlighted.
    css(alice_page, "#message-search").send_keys(Keys.ARROW_DOWN)
    alice_page.switch_to.active_element.send_keys(Keys.ENTER)
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, msg(target["msg_id"]) + ".highlight"))
    assert css(alice_page, "#peer-name").text == "Bob"
    assert alice_page.execute_script(IN_VIEW, css(alice_page, msg(target["msg_id"])))
    screenshot(alice_page, "p12-search-jump")

    # Bob finds his own message the same way (the sender reads "You → Alice").
    css(bob_page, "#message-search").send_keys("train")
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, result))
    assert css(bob_page, result + " .item-name").text == "You → Alice"
    css(bob_page, result).click()
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, msg(target["msg_id"]) + ".highlight"))
    assert bob_page.execute_script(IN_VIEW, css(bob_page, msg(target["msg_id"])))

    # Escape clears the search and the list comes back.
    css(bob_page, "#message-search").send_keys(Keys.ESCAPE)
    wait(bob_page, lambda d: css(d, "#conversations").is_displayed())
    assert severe_console_entries(alice_page) == []
    assert severe_console_entries(bob_page) == []
