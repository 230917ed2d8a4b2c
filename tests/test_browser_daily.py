"""What a daily user of the browser UI expects, end to end: two real Chromium browsers.

Live presence and profile changes (watch / presence / profile frames), "read"
only for what was on screen in a visible tab (with the jump button), ✓ and
Read receipts, recall confirmation and the moderator's removal, a deactivated
peer and a deactivated user, errors that coalesce and offer Retry only when
it can help, desktop notifications on a hidden tab, the debounced avatar
preview, sign-up reporting every error, and an axe-core accessibility check.

One browser pair serves the whole module; each test logs its own users in.
"""

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from .conftest import PASSWORD, wait_for
from .test_browser import (
    ARTIFACTS,
    badge,
    click,
    css,
    log_in,
    quit_all,
    recall,
    recall_button,
    screenshot,
    send,
    severe_console_entries,
    start_chromium,
    texts,
    wait,
    wait_ws_ready,
)

pytestmark = pytest.mark.e2e

# axe-core 4.14.1, vendored from the npm registry (npm pack axe-core@4; package/axe.min.js, licence header kept).
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


@pytest.fixture(scope="module")
def pages():
    """Two Chromium browsers shared by the module's tests (starting them is the slow part)."""
    started: list = []
    first, second = start_chromium(started), start_chromium(started)
    yield first, second
    quit_all(started)


@pytest.fixture
def pair(pages, daphne):
    """The shared browsers, logged out with a clean site state, at desktop size."""
    base = f"http://{daphne.address}"
    for page in pages:
        page.get(base + "/login/")  # leaves the previous test's chat page (its socket closes)
        page.delete_all_cookies()
        page.execute_script("localStorage.clear()")
        page.set_window_size(1280, 820)
        page.get_log("browser")  # forget the previous test's console
    yield base, pages[0], pages[1]
    for page in pages:
        page.get("about:blank")


def conv(username: str) -> str:
    return f'#conversations .conv[data-peer="{username}"]'


def open_chat(page: WebDriver, username: str) -> None:
    click(page, conv(username))
    wait(page, lambda d: css(d, "#conversation").is_displayed() and css(d, "#peer-name").text != "")


def unread_total(user) -> int:
    return user.get("unread").json()["total"]


def set_tab_hidden(page: WebDriver, hidden: bool) -> None:
    """Emulate a hidden (background) tab for the page's script: visibilityState plus the event."""
    page.execute_script(
        """
        if (arguments[0]) {
          Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
          Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        } else {
          delete document.visibilityState;
          delete document.hidden;
        }
        document.dispatchEvent(new Event('visibilitychange'));
        """,
        hidden,
    )


def deactivate(user) -> None:
    # What the admin's "active" checkbox does: a save, with its signals.
    account = get_user_model().objects.get(pk=user.id)
    account.is_active = False
    account.save()


def run_axe(page: WebDriver) -> list[dict]:
    """Inject axe-core and run it on the page as it is; the violations (id, impact, nodes)."""
    if not page.execute_script("return Boolean(window.axe)"):
        page.execute_script(AXE.read_text())
    page.set_script_timeout(60)
    # Contrast is judged on what is finally shown, not halfway through a fade-in (a toast's).
    page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        " Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null))).then(() => done())"
    )
    result = page.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
          .then((r) => done(r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
          }))))
          .catch((e) => done({error: String(e)}));
        """
    )
    assert not isinstance(result, dict), result
    return result


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


# --- while away -------------------------------------------------------------------------------


def test_messages_that_came_while_away_are_announced_once_and_acknowledged(daphne, celery_worker, alice, bob, pair):
    base, bob_page, _ = pair
    alice.send(bob, "are you there?")
    alice.send(bob, "call me")
    # Bob has no socket: the fan-out keeps both for his offline list.
    wait_for(lambda: [len(g["messages"]) for g in bob.get("offline").json()["results"]] == [2])

    log_in(bob_page, base, "bob")
    wait(bob_page, lambda d: "While you were away: 2 from Alice." in css(d, "#toasts").text)
    # The page acknowledged what it announced: the next visit announces nothing again.
    wait_for(lambda: bob.get("offline").json()["results"] == [])
    assert css(bob_page, conv("alice")).is_displayed()
    assert severe_console_entries(bob_page) == []


# --- presence ---------------------------------------------------------------------------------


def test_presence_and_profile_changes_arrive_live(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    alice.send(bob, "Are you around today?")
    log_in(alice_page, base, alice.username)
    open_chat(alice_page, "bob")
    # Bob never connected: offline, no last_seen yet.
    wait(alice_page, lambda d: css(d, "#peer-status").text == "Offline · @bob")
    assert css(alice_page, conv("bob")).get_attribute("data-online") == "false"

    # Bob comes online: a presence frame (Alice watches her list's peers) turns the dot and header on.
    log_in(bob_page, base, bob.username)
    wait(alice_page, lambda d: css(d, "#peer-status").text == "Online")
    wait(alice_page, lambda d: css(d, conv("bob")).get_attribute("data-online") == "true")
    assert alice_page.find_elements(By.CSS_SELECTOR, conv("bob") + " .online-dot")

    # Bob renames himself: a profile frame updates the list and the header (one period after "B.").
    assert bob.patch("me", {"nickname": "Bob B."}).status_code == 200
    wait(alice_page, lambda d: css(d, "#peer-name").text == "Bob B.")
    wait(alice_page, lambda d: css(d, conv("bob") + " .item-name").text == "Bob B.")
    assert css(alice_page, "#history-start").text == "This is the beginning of your conversation with Bob B."

    # Bob leaves: offline, with "last seen".
    bob_page.get("about:blank")
    wait(alice_page, lambda d: css(d, "#peer-status").text == "Last seen just now · @bob")
    wait(alice_page, lambda d: css(d, conv("bob")).get_attribute("data-online") == "false")
    assert not alice_page.find_elements(By.CSS_SELECTOR, conv("bob") + " .online-dot")
    assert severe_console_entries(alice_page) == []


# --- read means seen ----------------------------------------------------------------------------


def test_read_only_what_was_seen_and_jump_to_new_messages(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    tall = "\n".join(f"line {n}" for n in range(12))
    for n in range(6):
        alice.send(bob, f"part {n}\n{tall}")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)

    # Bob opens the chat: it lands on the first unread message (more do not fit on screen: test_browser_newcomer.py);
    # at the bottom, the newest is on screen, so all is read.
    wait(bob_page, lambda d: badge(d, conv("alice")) == "6")
    open_chat(bob_page, "alice")
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, "#message-list .unread-divider"))
    bob_page.execute_script("const pane = document.getElementById('messages'); pane.scrollTop = pane.scrollHeight")
    wait_for(lambda: unread_total(bob) == 0)
    wait(bob_page, lambda d: badge(d, conv("alice")) is None)

    # Alice's newest message shows Read (✓✓); her next one only ✓ (sent).
    open_chat(alice_page, "bob")
    wait(alice_page, lambda d: texts(d, ".msg.out .receipt") == ["Read"])

    # Bob scrolls up; Alice writes: it is not on Bob's screen, so it stays unread and a button offers it.
    bob_page.execute_script("document.getElementById('messages').scrollTop = 0")
    wait(bob_page, lambda d: d.execute_script("return document.getElementById('messages').scrollTop") == 0)
    send(alice_page, "Did you see this one?")
    wait(alice_page, lambda d: css(d, ".msg.out:last-child .tick").get_attribute("title") == "Sent")
    wait(bob_page, lambda d: css(d, "#jump-new").is_displayed())
    assert css(bob_page, "#jump-new").text == "1 new message ↓"
    wait(bob_page, lambda d: badge(d, conv("alice")) == "1")
    wait(bob_page, lambda d: d.title == "(1) Chat")
    assert unread_total(bob) == 1
    assert alice_page.find_elements(By.CSS_SELECTOR, ".msg.out:last-child .receipt") == []
    screenshot(bob_page, "jump-to-new-messages")

    # The button jumps down: now it was seen, and read.
    click(bob_page, "#jump-new")
    wait_for(lambda: unread_total(bob) == 0)
    wait(bob_page, lambda d: badge(d, conv("alice")) is None and not css(d, "#jump-new").is_displayed())
    wait(bob_page, lambda d: d.title == "Chat")
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.out:last-child .receipt"))
    assert css(alice_page, ".msg.out:last-child .tick").get_attribute("title") == "Read"

    # After a reload, the receipt comes from the conversation's peer_read_up_to.
    alice_page.refresh()
    wait_ws_ready(alice_page)
    wait(alice_page, lambda d: texts(d, ".msg.out .receipt") == ["Read"])
    assert css(alice_page, ".msg.out:last-child .receipt").text == "Read"


# --- recall and moderation ------------------------------------------------------------------------


def test_recall_asks_first_and_a_moderators_removal_is_labelled(daphne, celery_worker, alice, bob, pair):
    from messaging.recall import moderate_recall

    base, alice_page, bob_page = pair
    alice.send(bob, "Hello")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    open_chat(bob_page, "alice")
    send(alice_page, "oops, wrong chat")
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text")[-1:] == ["oops, wrong chat"])

    # The recall button opens a confirmation; Esc cancels it and focus goes back to the button.
    mine = alice_page.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"]')[-1]
    msg_id = mine.get_attribute("data-msg-id")
    button = recall_button(alice_page, mine)
    button.click()
    wait(alice_page, lambda d: css(d, "#confirm-dialog").get_attribute("open") is not None)
    assert alice_page.switch_to.active_element.get_attribute("id") == "confirm-cancel"
    screenshot(alice_page, "recall-confirmation")
    alice_page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(alice_page, lambda d: css(d, "#confirm-dialog").get_attribute("open") is None)
    assert alice_page.switch_to.active_element == button
    assert css(alice_page, f'.msg[data-msg-id="{msg_id}"]').get_attribute("data-state") == "sent"

    # Confirmed: the sender and the peer see who recalled it.
    recall(alice_page, css(alice_page, f'.msg[data-msg-id="{msg_id}"]'))
    recalled = f'.msg[data-msg-id="{msg_id}"][data-state="recalled"] .msg-text'
    wait(alice_page, lambda d: css(d, recalled).text == "You recalled this message")
    wait(bob_page, lambda d: css(d, recalled).text == "Alice recalled a message")

    # A moderator removes Bob's message: both see "Removed by a moderator".
    rude = bob.send(alice, "something rude")
    wait(alice_page, lambda d: texts(d, ".msg.in .msg-text")[-1:] == ["something rude"])
    assert moderate_recall(rude["msg_id"]) is True
    removed = f'.msg[data-msg-id="{rude["msg_id"]}"][data-state="recalled"] .msg-text'
    wait(alice_page, lambda d: css(d, removed).text == "Removed by a moderator")
    wait(bob_page, lambda d: css(d, removed).text == "Removed by a moderator")
    wait(bob_page, lambda d: css(d, conv("alice") + " .item-preview").text == "Removed by a moderator")


# --- deactivation -------------------------------------------------------------------------------


def test_a_deactivated_peer_and_a_deactivated_user(daphne, celery_worker, alice, bob, pair):
    base, alice_page, bob_page = pair
    alice.send(bob, "Still using this account?")
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    assert css(alice_page, "#input").is_enabled()

    deactivate(bob)
    # Alice (a profile frame): the chat says so and the composer is off.
    wait(alice_page, lambda d: css(d, "#peer-deactivated").is_displayed())
    assert "This account is deactivated" in css(alice_page, "#peer-deactivated").text
    assert not css(alice_page, "#input").is_enabled()
    assert not css(alice_page, "#send").is_enabled()
    assert css(alice_page, "#peer-status").text == "Deactivated · @bob"
    # Bob: his socket closed with 4401, and the page tells him why.
    wait(bob_page, lambda d: css(d, "#session-ended").is_displayed())
    assert "deactivated" in css(bob_page, "#session-ended").text
    screenshot(bob_page, "deactivated-user-signed-out")

    # After a reload the peer's Profile (is_active false) says the same.
    alice_page.refresh()
    wait(alice_page, lambda d: css(d, "#peer-deactivated").is_displayed())
    assert not css(alice_page, "#input").is_enabled()
    screenshot(alice_page, "deactivated-peer")

    # The login page: right password -> "deactivated", never logged in; wrong password -> the usual error.
    bob_page.delete_all_cookies()
    bob_page.get(base + "/login/")
    css(bob_page, "#id_username").send_keys("bob")
    css(bob_page, "#id_password").send_keys(PASSWORD + Keys.ENTER)
    wait(bob_page, lambda d: "This account is deactivated." in css(d, ".form-alert").text)
    assert bob_page.current_url.startswith(base + "/login/")
    screenshot(bob_page, "login-deactivated")
    css(bob_page, "#id_password").send_keys("not-the-password" + Keys.ENTER)
    wait(bob_page, lambda d: "deactivated" not in css(d, ".form-alert").text)
    assert bob_page.current_url.startswith(base + "/login/")


# --- errors ---------------------------------------------------------------------------------------


def test_errors_coalesce_and_retry_only_what_can_succeed(daphne, celery_worker, alice, bob, pair):
    base, alice_page, _ = pair
    log_in(alice_page, base, alice.username)

    # not_found can never succeed: no Retry.
    alice_page.get(base + "/?reload#c987654321")  # a new page load, opening a conversation that is not hers
    wait(alice_page, lambda d: css(d, "#toasts .toast").is_displayed())
    assert not css(alice_page, "#toasts .toast-retry").is_displayed()

    # The same error twice: one toast, counted.
    css(alice_page, "#search").send_keys("bo")
    click(alice_page, '#search-results button.person[data-username="bob"]')
    wait(alice_page, lambda d: css(d, "#peer-name").text == "Bob")
    for _ in range(2):
        alice_page.execute_script("document.getElementById('input').value = 'x'.repeat(4001)")
        css(alice_page, "#input").send_keys(Keys.ENTER)
    wait(alice_page, lambda d: css(d, "#toasts .toast-count").text == "×2")  # noqa: RUF001 - the badge is a multiplication sign
    assert len(alice_page.find_elements(By.CSS_SELECTOR, "#toasts .toast")) == 1
    assert "at most 4000 characters" in css(alice_page, "#toasts .toast-text").text
    assert not css(alice_page, "#toasts .toast-retry").is_displayed()

    # A network failure can clear up: Retry, and it works once the network is back.
    alice_page.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    alice_page.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    try:
        css(alice_page, "#search").send_keys("bo")
        wait(alice_page, lambda d: "cannot be reached" in css(d, "#toasts .toast-text").text)
        assert css(alice_page, "#toasts .toast-retry").is_displayed()
        assert len(alice_page.find_elements(By.CSS_SELECTOR, "#toasts .toast")) == 1
    finally:
        alice_page.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    click(alice_page, "#toasts .toast-retry")
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, '#search-results button.person[data-username="bob"]'))


# --- notifications ----------------------------------------------------------------------------------


def test_notification_when_the_tab_is_hidden(daphne, celery_worker, alice, bob, pair):
    base, bob_page, _ = pair
    alice.send(bob, "Morning!")
    bob_page.execute_cdp_cmd("Browser.grantPermissions", {"origin": base, "permissions": ["notifications"]})
    log_in(bob_page, base, bob.username)
    # Record what the page asks of the Notification API.
    bob_page.execute_script(
        """
        const Real = window.Notification;
        window.__notes = [];
        function Recording(title, options) {
          window.__notes.push({title, body: options && options.body});
          return new Real(title, options);
        }
        Object.defineProperty(Recording, 'permission', {get: () => Real.permission});
        Recording.requestPermission = (...args) => Real.requestPermission(...args);
        window.Notification = Recording;
        """
    )
    assert css(bob_page, "#notify-toggle").get_attribute("aria-pressed") == "false"
    click(bob_page, "#notify-toggle")  # permission is asked from this click, never on load
    wait(bob_page, lambda d: css(d, "#notify-toggle").get_attribute("aria-pressed") == "true")
    open_chat(bob_page, "alice")
    wait_for(lambda: unread_total(bob) == 0)

    # The tab goes to the background: a new message notifies, and stays unread though the chat is open.
    set_tab_hidden(bob_page, True)
    alice.send(bob, "Lunch at noon?")
    wait(bob_page, lambda d: d.execute_script("return window.__notes.length") == 1)
    assert bob_page.execute_script("return window.__notes") == [{"title": "Alice", "body": "Lunch at noon?"}]
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text")[-1:] == ["Lunch at noon?"])
    wait(bob_page, lambda d: d.title == "(1) Chat")
    assert unread_total(bob) == 1

    # Back to the tab: now it is seen, and read; nothing notifies while visible.
    set_tab_hidden(bob_page, False)
    wait_for(lambda: unread_total(bob) == 0)
    wait(bob_page, lambda d: d.title == "Chat")
    alice.send(bob, "See you there")
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text")[-1:] == ["See you there"])
    assert bob_page.execute_script("return window.__notes.length") == 1


# --- accessibility, profile dialog, sign-up, phone width ---------------------------------------------------


def test_accessibility_profile_dialog_and_signup(daphne, celery_worker, alice, bob, carol, pair):
    base, alice_page, _ = pair
    alice.send(bob, "See you at the station at 9")
    bob.send(alice, "Great, I'll bring the tickets")
    carol.send(alice, "Are you coming on Saturday?")
    report: dict[str, list[dict]] = {}

    # The login page.
    alice_page.get(base + "/login/")
    report["login"] = run_axe(alice_page)

    # Sign-up reports every problem at once (a taken username together with the password's).
    alice_page.get(base + "/signup/")
    css(alice_page, "#id_username").send_keys("alice")
    css(alice_page, "#id_password").send_keys("12345678")
    css(alice_page, "#id_password_again").send_keys("12345678" + Keys.ENTER)
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))
    errors = texts(alice_page, ".field-error")
    assert "This username is taken." in errors
    assert "This password is entirely numeric." in errors
    assert "This password is too common." in errors
    report["signup"] = run_axe(alice_page)
    screenshot(alice_page, "signup-errors")

    # The chat page: list with an unread conversation and an open chat.
    log_in(alice_page, base, alice.username)
    open_chat(alice_page, "bob")
    wait(alice_page, lambda d: texts(d, ".msg.in .msg-text") == ["Great, I'll bring the tickets"])
    wait(alice_page, lambda d: badge(d, conv("carol")) == "1")
    assert css(alice_page, conv("bob")).get_attribute("aria-current") == "page"
    assert css(alice_page, conv("carol")).get_attribute("aria-current") is None
    report["chat"] = run_axe(alice_page)
    screenshot(alice_page, "chat-desktop")

    # The profile dialog: the avatar preview waits for typing to pause (one image request, not one per key).
    click(alice_page, "#me-button")
    wait(alice_page, lambda d: css(d, "#profile-dialog").get_attribute("open") is not None)
    avatar = f"{base}/static/chat/favicon.svg?preview=debounced"
    css(alice_page, "#profile-avatar-url").send_keys(avatar)
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, f'#profile-avatar img[src="{avatar}"]'))
    script = "return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('?preview='))"
    wait(alice_page, lambda d: d.execute_script(script))  # an entry appears once the image has loaded
    assert alice_page.execute_script(script) == [avatar]  # typing it made no request for its prefixes
    report["profile-dialog"] = run_axe(alice_page)
    screenshot(alice_page, "profile-dialog")
    css(alice_page, "#profile-avatar-url").send_keys(Keys.ESCAPE)  # Esc closes; focus back on the opener
    wait(alice_page, lambda d: css(d, "#profile-dialog").get_attribute("open") is None)
    assert alice_page.switch_to.active_element.get_attribute("id") == "me-button"

    # Phone width: one pane at a time.
    alice_page.set_window_size(390, 844)
    wait(alice_page, lambda d: css(d, "#back").is_displayed())
    screenshot(alice_page, "phone-chat")
    click(alice_page, "#back")
    wait(alice_page, lambda d: css(d, "#conversations").is_displayed())
    screenshot(alice_page, "phone-list")

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(report, indent=2))
    found = {page: serious(violations) for page, violations in report.items() if serious(violations)}
    assert found == {}, json.dumps(found, indent=2)
    assert severe_console_entries(alice_page) == []


def test_an_uploaded_picture_becomes_the_avatar_everywhere(daphne, celery_worker, alice, bob, pair, tmp_path):
    from PIL import Image

    base, alice_page, bob_page = pair
    alice.send(bob, "new picture soon")
    picture = tmp_path / "me.png"
    Image.new("RGB", (600, 400), (200, 40, 40)).save(picture)
    log_in(bob_page, base, bob.username)
    open_chat(bob_page, "alice")
    log_in(alice_page, base, alice.username)
    click(alice_page, "#me-button")
    wait(alice_page, lambda d: css(d, "#profile-dialog").get_attribute("open") is not None)
    css(alice_page, "#avatar-file").send_keys(str(picture))
    # Saving the dialog uploads it (choosing it alone changes nothing: test_browser_newcomer.py);
    # bob's open chat shows it live (a profile frame).
    click(alice_page, "#profile-save")
    wait(alice_page, lambda d: css(d, "#profile-dialog").get_attribute("open") is None)
    url = alice.get("me").json()["avatar_url"]
    assert url.startswith("/media/avatars/")
    wait(bob_page, lambda d: d.find_elements(By.CSS_SELECTOR, f'img[src$="{url}"]'))
    # The stored picture is served, resized, as an image.
    size = alice_page.execute_script(
        "const img = new Image(); img.src = arguments[0];"
        " return img.decode().then(() => [img.naturalWidth, img.naturalHeight]);",
        base + url,
    )
    assert size == [256, 171]
    # A file that is not a picture is refused in the dialog on Save, with the server's reason.
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    click(alice_page, "#me-button")
    css(alice_page, "#avatar-file").send_keys(str(fake))
    click(alice_page, "#profile-save")
    wait(alice_page, lambda d: css(d, "#profile-avatar-file-error").is_displayed())
    assert css(alice_page, "#profile-dialog").get_attribute("open") is not None
    assert alice.get("me").json()["avatar_url"] == url
