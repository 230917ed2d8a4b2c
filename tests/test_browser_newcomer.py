"""What a new user met in the browser (issue 20, section 3), end to end in headless Chromium.

Keyboard focus around "Load older messages", sign-up help and errors tied to
their fields, landing on the first unread message, an avatar that waits for
Save, a phone's Back button, Enter key and recall button, the page while the
connection is down, and the admin and page chrome.

One browser serves the module's desktop tests; the phone test starts its own.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from .conftest import PASSWORD
from .test_browser import click, css, quit_all, screenshot, start_chromium, texts, wait, wait_ws_ready, ws_state
from .test_browser_daily import run_axe, serious

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def page():
    """One Chromium shared by the module's tests (starting it is the slow part)."""
    started: list = []
    yield start_chromium(started)
    quit_all(started)


@pytest.fixture
def fresh(page, daphne):
    """The shared browser logged out, at desktop size; the server's base URL."""
    base = f"http://{daphne.address}"
    page.get(base + "/login/")
    page.delete_all_cookies()
    page.set_window_size(1280, 820)
    page.get_log("browser")
    yield base
    page.get("about:blank")


# Every id an element's aria-describedby names, with whether it exists.
DESCRIBED_BY = """
return [...document.querySelectorAll('[aria-describedby]')].flatMap((el) =>
  el.getAttribute('aria-describedby').split(/\\s+/).filter(Boolean)
    .map((id) => [el.id, id, Boolean(document.getElementById(id))]));
"""


def test_signup_help_and_errors_are_tied_to_their_fields(daphne, alice, page, fresh):
    base = fresh
    page.get(base + "/signup/")
    references = page.execute_script(DESCRIBED_BY)
    assert ["id_username", "id_username_helptext", True] in references
    assert ["id_nickname", "id_nickname_helptext", True] in references
    assert [ref for ref in references if not ref[2]] == []
    assert css(page, "#id_username_helptext").text == "Letters, digits and @ . + - _ only."

    # With errors: each field names its error text (and its help, which stays shown).
    css(page, "#id_username").send_keys("alice")
    css(page, "#id_password").send_keys("12345678")
    css(page, "#id_password_again").send_keys("1234567" + Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))
    references = page.execute_script(DESCRIBED_BY)
    assert [ref for ref in references if not ref[2]] == []
    assert ["id_password", "id_password_error", True] in references
    assert "This password is entirely numeric." in css(page, "#id_password_error").text
    assert css(page, "#id_username_error").text == "This username is taken."
    assert css(page, "#id_password_again_error").text == "The two passwords differ."
    screenshot(page, "newcomer-signup-described-by")


# --- admin and chrome ---------------------------------------------------------------------------

LONG_NAME = "Alexandra Konstantinopoulou-Vasquez de la Fuente y Montenegro"


def test_admin_names_users_and_only_staff_see_it_and_long_names_are_whole(daphne, alice, bob, page, fresh):
    from profiles.models import User

    base = fresh
    User.objects.create_superuser("moderator", password=PASSWORD)
    sent = alice.send(bob, "something rude")
    assert alice.patch("me", {"nickname": LONG_NAME}).status_code == 200

    # A moderator recalls it in the admin; the admin log names the users, not their ids.
    page.get(base + "/admin/login/?next=/admin/messaging/messagerecord/")
    css(page, "#id_username").send_keys("moderator")
    css(page, "#id_password").send_keys(PASSWORD + Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#changelist-form"))
    page.execute_script("document.querySelector('select[name=action]').value = 'recall_selected'")
    record = css(page, '#result_list tr:has(a[href*="/change/"]) input[name="_selected_action"]')
    record.click()
    css(page, 'button[name="index"]').click()
    wait(page, lambda d: "Recalled 1 message(s)." in css(d, ".messagelist").text)
    page.get(base + "/admin/admin/logentry/")
    entry = f"message {sent['msg_id']} from alice to bob"
    wait(page, lambda d: entry in css(d, "#result_list").text)
    screenshot(page, "newcomer-admin-log")

    # Staff see the admin link in the chat page's footer.
    page.get(base + "/")
    wait_ws_ready(page)
    assert page.find_elements(By.CSS_SELECTOR, '.sidebar-footer a[href="/admin/"]')

    # Everyone else does not: neither on the log-in page nor in the chat.
    page.delete_all_cookies()
    page.get(base + "/login/")
    assert not page.find_elements(By.CSS_SELECTOR, 'a[href="/admin/"]')
    css(page, "#id_username").send_keys("alice")
    css(page, "#id_password").send_keys(PASSWORD + Keys.ENTER)
    wait_ws_ready(page)
    assert not page.find_elements(By.CSS_SELECTOR, 'a[href="/admin/"]')
    assert css(page, ".sidebar-footer").text == "API docs"

    # A long name cut off in the sidebar header is whole in its title and its text.
    wait(page, lambda d: css(d, "#me-name").get_attribute("textContent") == LONG_NAME)
    name = css(page, "#me-name")
    assert page.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", name)  # cut off
    assert name.get_attribute("title") == LONG_NAME
    assert LONG_NAME in css(page, "#me-button").get_attribute("title")
    screenshot(page, "newcomer-long-name")


# --- while the connection is down ---------------------------------------------------------------


def test_while_the_connection_is_down(start_daphne, celery_worker, alice, bob, page, fresh):
    from .test_browser import log_in, send

    server = start_daphne()
    base = f"http://{server.address}"
    alice.send(bob, "ping me when you are back")
    page.get(base + "/login/")
    log_in(page, base, alice.username)
    bob_socket = server.socket(bob.token)  # Bob is online while the connection lasts
    bob_socket.expect("ready")
    click(page, '#conversations .conv[data-peer="bob"]')
    wait(page, lambda d: css(d, "#peer-status").text == "Online")
    search_top = css(page, "#search").rect["y"]
    status_height = css(page, "#conn-status").rect["height"]

    # The server goes away: Alice's page cannot know whether Bob is still online.
    server.stop()
    wait(page, lambda d: "retrying in" in css(d, "#conn-status").text)
    assert css(page, "#peer-status").text != "Online"
    assert css(page, "#peer-status").get_attribute("data-state") == "unknown"
    assert not page.find_elements(By.CSS_SELECTOR, "#conversations .online-dot")
    # The longer status stays on one line: nothing below it moves.
    assert css(page, "#conn-status").rect["height"] == status_height
    assert css(page, "#search").rect["y"] == search_top
    assert "retrying in" in css(page, "#conn-status").get_attribute("title")

    # A message waiting to send is drawn at full contrast, labelled, not faded.
    send(page, "are you there?")
    pending = '.msg.pending[data-state="sending"]'
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, pending))
    bubble_opacity = "return getComputedStyle(document.querySelector(arguments[0] + ' .bubble')).opacity"
    assert page.execute_script(bubble_opacity, pending) == "1"
    assert css(page, pending + " .pending-status").text == "Waiting for connection…"
    assert (
        page.execute_script(
            "return getComputedStyle(document.querySelector(arguments[0] + ' .pending-status')).opacity", pending
        )
        == "1"
    )
    screenshot(page, "newcomer-connection-down")
    assert serious(run_axe(page)) == []
    bob_socket.ws.close()


def test_a_message_written_while_the_server_is_away_is_sent_once_when_it_is_back(
    start_daphne, celery_worker, alice, bob, page, fresh
):
    """The SDK's outbox under the page: the message waits, goes out on the next socket, and is stored once."""
    from .test_browser import log_in, send

    server = start_daphne()
    base = f"http://{server.address}"
    first = alice.send(bob, "still there?")
    page.get(base + "/login/")
    log_in(page, base, alice.username)
    click(page, '#conversations .conv[data-peer="bob"]')
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.out:not(.pending)"))

    server.stop()
    wait(page, lambda d: "retrying in" in css(d, "#conn-status").text)
    send(page, "back in a minute")
    wait(page, lambda d: css(d, ".msg.pending .pending-status").text == "Waiting for connection…")

    # The server comes back where the page knows it: the page reconnects by itself and sends.
    again = start_daphne(port=server.port)
    wait_ws_ready(page, timeout=45)
    wait(page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".msg.pending"))
    wait(page, lambda d: texts(d, ".msg.out .msg-text")[-1:] == ["back in a minute"])
    assert css(page, "#conn-status").text == "Online"
    stored = bob.get(f"conversations/{first['conversation_id']}/messages").json()["results"]
    assert [m["content"] for m in stored] == ["still there?", "back in a minute"]
    again.stop()


# --- on a phone ---------------------------------------------------------------------------------


@pytest.fixture
def phone():
    """A Chromium of its own as a 390x844 touch phone (coarse pointer, no hover)."""
    started: list = []
    driver = start_chromium(started)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    yield driver
    quit_all(started)


def test_on_a_phone_back_returns_to_the_list_enter_adds_a_line_and_recall_is_labelled(
    daphne, celery_worker, alice, bob, phone
):
    from .test_browser import log_in

    base = f"http://{daphne.address}"
    bob.send(alice, "Call me when you land")
    alice.send(bob, "Boarding now")
    log_in(phone, base, alice.username)
    assert phone.execute_script("return matchMedia('(pointer: coarse)').matches")
    phone.execute_script("window.__samePage = true")
    click(phone, '#conversations .conv[data-peer="bob"]')
    wait(phone, lambda d: css(d, "#conversation").is_displayed() and d.find_elements(By.CSS_SELECTOR, ".msg.out"))
    assert "#c" in phone.current_url

    # The recall button says what it does, visibly, and by name.
    recall = css(phone, ".msg.out .recall")
    assert recall.is_displayed()
    assert recall.text == "Recall"
    assert recall.accessible_name.startswith("Recall")
    assert phone.execute_script("return getComputedStyle(arguments[0]).opacity", recall) == "1"
    screenshot(phone, "newcomer-phone-chat")
    assert serious(run_axe(phone)) == []

    # Enter is a new line on a touch keyboard; the send button sends.
    composer = css(phone, "#input")
    composer.click()
    composer.send_keys("Landed.", Keys.ENTER, "Taxi in 10 min")
    assert composer.get_attribute("value") == "Landed.\nTaxi in 10 min"
    assert not phone.find_elements(By.CSS_SELECTOR, ".msg.pending")
    css(phone, "#send").click()
    wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.out .msg-text")[-1].text == "Landed.\nTaxi in 10 min")

    # Back returns to the list, in the same page (no reload through /login/, the socket stays).
    phone.back()
    wait(phone, lambda d: css(d, "#conversations").is_displayed() and not css(d, "#conversation").is_displayed())
    assert phone.execute_script("return window.__samePage === true")
    assert phone.current_url == base + "/"
    assert ws_state(phone) == "ready"
    screenshot(phone, "newcomer-phone-back-to-list")

    # Forward opens the chat again; the page's own back arrow returns to the list as well.
    phone.forward()
    wait(phone, lambda d: css(d, "#conversation").is_displayed())
    css(phone, "#back").click()
    wait(phone, lambda d: css(d, "#conversations").is_displayed() and not css(d, "#conversation").is_displayed())
    assert phone.current_url == base + "/"
    assert phone.execute_script("return window.__samePage === true")


# --- the profile dialog's picture -----------------------------------------------------------------


def test_a_chosen_picture_waits_for_save_and_cancel_undoes_it(daphne, celery_worker, alice, bob, page, fresh, tmp_path):
    from PIL import Image

    from .test_browser import log_in

    base = fresh
    picture = tmp_path / "me.png"
    Image.new("RGB", (300, 300), (40, 160, 90)).save(picture)
    alice.send(bob, "new picture soon")
    bob_socket = daphne.socket(bob.token)  # Bob watches Alice: a profile change reaches him as a frame
    bob_socket.expect("ready")
    bob_socket.send({"type": "watch", "user_ids": [alice.id]})
    log_in(page, base, alice.username)
    help_text = "An http(s) image address, or upload a picture below; leave both empty for initials."

    # Choosing a file previews it in the dialog only: Alice's profile and Bob's view stay as they were.
    css(page, "#me-button").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is not None)
    assert css(page, "#profile-avatar-url-help").text == help_text
    css(page, "#avatar-file").send_keys(str(picture))
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, '#profile-avatar img[src^="blob:"]'))
    assert "me.png" in css(page, "#avatar-file-status").text
    screenshot(page, "newcomer-avatar-chosen")
    assert serious(run_axe(page)) == []
    assert [f for f in bob_socket.drain(1.0) if f["type"] == "profile"] == []
    assert alice.get("me").json()["avatar_url"] == ""
    assert not page.find_elements(By.CSS_SELECTOR, "#me-avatar img")

    # Cancel: nothing changed, and the dialog opens again without the file.
    css(page, "#profile-cancel").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is None)
    assert alice.get("me").json()["avatar_url"] == ""
    css(page, "#me-button").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is not None)
    assert not page.find_elements(By.CSS_SELECTOR, "#profile-avatar img")
    assert css(page, "#avatar-file").get_attribute("value") == ""

    # Save uploads it: now it is Alice's avatar, and Bob hears of it.
    css(page, "#avatar-file").send_keys(str(picture))
    css(page, "#profile-save").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is None)
    url = alice.get("me").json()["avatar_url"]
    assert url.startswith("/media/avatars/")
    frame = bob_socket.expect("profile")
    assert frame["profile"]["avatar_url"] == url
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f'#me-avatar img[src="{base}{url}"]'))

    # The address field then holds a real http(s) address of that picture, as its help text says;
    # saving again keeps the picture.
    css(page, "#me-button").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is not None)
    assert css(page, "#profile-avatar-url").get_attribute("value") == base + url
    screenshot(page, "newcomer-avatar-saved")
    css(page, "#profile-save").click()
    wait(page, lambda d: css(d, "#profile-dialog").get_attribute("open") is None)
    assert alice.get("me").json()["avatar_url"] == url
    bob_socket.ws.close()


# --- keyboard focus and "Load older messages" --------------------------------------------------------

COUNT_SHOWN = "return document.querySelectorAll('#message-list .msg').length"
# Where a message sits on screen, in CSS pixels from the top of the messages pane.
OFFSET = """
const node = document.querySelector(`.msg[data-msg-id="${arguments[0]}"]`);
return node.getBoundingClientRect().top - document.getElementById('messages').getBoundingClientRect().top;
"""


def test_focus_never_loads_and_a_load_keeps_focus_and_place(daphne, celery_worker, alice, bob, page, fresh):
    from selenium.webdriver.common.action_chains import ActionChains

    from .test_browser import log_in

    base = fresh
    sent = [alice.send(bob, f"old message {n}") for n in range(120)]
    assert bob.post(f"conversations/{sent[0]['conversation_id']}/read", {}).status_code == 200
    # Not offline messages either: the page would take them all in at once ("while you were away").
    assert bob.post("offline/ack", {"sender_id": alice.id, "up_to": sent[-1]["msg_id"]}).status_code == 204
    log_in(page, base, bob.username)
    click(page, '#conversations .conv[data-peer="alice"]')
    wait(page, lambda d: d.execute_script(COUNT_SHOWN) == 50)

    # Shift+Tab from the composer, past its attach button, reaches "Load older messages": focusing it loads nothing.
    css(page, "#input").click()
    ActionChains(page).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert page.switch_to.active_element.get_attribute("id") == "attach-button"
    ActionChains(page).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert page.switch_to.active_element.get_attribute("id") == "load-older"
    page.execute_script("return new Promise((done) => setTimeout(done, 1500))")
    assert page.execute_script(COUNT_SHOWN) == 50
    screenshot(page, "newcomer-load-older-focused")

    # Enter loads one page; focus stays on the button (more remain) and the oldest shown message stays put.
    first = sent[70]["msg_id"]
    before = page.execute_script(OFFSET, first)
    page.switch_to.active_element.send_keys(Keys.ENTER)
    wait(page, lambda d: d.execute_script(COUNT_SHOWN) == 100)
    page.execute_script("return new Promise((done) => setTimeout(done, 300))")
    assert page.switch_to.active_element.get_attribute("id") == "load-older"
    assert abs(page.execute_script(OFFSET, first) - before) <= 2

    # The last page: the button goes, focus moves to the first message shown before, which stays put.
    first = sent[20]["msg_id"]
    before = page.execute_script(OFFSET, first)
    page.switch_to.active_element.send_keys(Keys.SPACE)
    wait(page, lambda d: d.execute_script(COUNT_SHOWN) == 120)
    wait(page, lambda d: not css(d, "#load-older").is_displayed())
    page.execute_script("return new Promise((done) => setTimeout(done, 300))")
    focused = page.execute_script("return document.activeElement.outerHTML.slice(0, 120)")
    assert page.switch_to.active_element.get_attribute("data-msg-id") == str(first), focused
    assert abs(page.execute_script(OFFSET, first) - before) <= 2
    screenshot(page, "newcomer-load-older-done")
    assert serious(run_axe(page)) == []


# --- landing on the first unread message --------------------------------------------------------------

PANE_SCROLL = "const pane = document.getElementById('messages'); pane.scrollTop += arguments[0]; return pane.scrollTop;"
IN_VIEW = """
const pane = document.getElementById('messages').getBoundingClientRect();
const rect = arguments[0].getBoundingClientRect();
return rect.top >= pane.top && rect.bottom <= pane.bottom;
"""


def test_opening_a_chat_lands_on_the_first_unread_and_reads_as_it_scrolls(
    daphne, celery_worker, alice, bob, carol, page, fresh
):
    from .conftest import wait_for
    from .test_browser import badge, log_in

    base = fresh
    for n in range(10):
        alice.send(bob, f"read before {n}")
    cid = alice.get("conversations").json()["results"][0]["conversation_id"]
    assert bob.post(f"conversations/{cid}/read", {}).status_code == 200

    def unread_with_alice() -> int:
        return bob.get("unread").json()["conversations"].get(str(cid), 0)

    sent = [alice.send(bob, f"unread {n}") for n in range(60)]
    for n in range(3):
        carol.send(bob, f"short {n}")
    log_in(page, base, bob.username)
    conversation = '#conversations .conv[data-peer="alice"]'
    wait(page, lambda d: badge(d, conversation) == "60")

    # Opening it: a divider above the first unread message, in view; only what is on screen is read.
    click(page, conversation)
    divider = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#message-list .unread-divider"))
    assert divider.text == "Unread messages"
    follower = page.execute_script("return arguments[0].nextElementSibling.dataset.msgId", divider)
    assert follower == str(sent[0]["msg_id"])
    wait(page, lambda d: d.execute_script(IN_VIEW, divider))
    wait_for(lambda: 0 < unread_with_alice() < 60)
    page.execute_script("return new Promise((done) => setTimeout(done, 1000))")
    unread = unread_with_alice()
    assert 30 < unread < 60  # a screenful, not all 60
    assert css(page, f'.msg[data-msg-id="{sent[-1]["msg_id"]}"]')  # the newest is loaded, just not seen
    wait(page, lambda d: badge(d, conversation) == str(unread))
    screenshot(page, "newcomer-unread-divider")
    assert serious(run_axe(page)) == []

    # Scrolling down reads more, a screenful at a time: the count falls, then reaches 0 at the bottom.
    page.execute_script(PANE_SCROLL, 400)
    wait_for(lambda: unread_with_alice() < unread)
    page.execute_script(PANE_SCROLL, 100000)
    wait_for(lambda: unread_with_alice() == 0)
    wait(page, lambda d: badge(d, conversation) is None)

    # A chat whose unread messages all fit on screen: all read at once.
    click(page, '#conversations .conv[data-peer="carol"]')
    wait_for(lambda: bob.get("unread").json()["total"] == 0)
    assert page.find_elements(By.CSS_SELECTOR, "#message-list .unread-divider")
