"""The page's outbox in IndexedDB, end to end in headless Chromium (issue 18, the client layer).

A message written while the server is away outlives a reload, even an offline start through the
service worker: it shows as pending and goes out by itself, once, when the server is back.
Logging out forgets it, and the next account signed in on that browser never sees or sends it.
A message left while its files upload comes back "Not sent" with its text; two tabs keep both
their messages; without IndexedDB the outbox lasts as long as the page. Each test has its own
browser profile; those that stop the server start their own (and start it again on its port).
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from messaging.models import MessageRecord

from .test_browser import click, css, log_in, quit_all, screenshot, send, start_chromium, texts, wait, wait_ws_ready
from .test_browser_daily import run_axe, serious
from .test_browser_pwa import OFFLINE, worker_ready

pytestmark = pytest.mark.e2e

ONLINE = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
PENDING = ".msg.pending .pending-status"
SENT = ".msg.out:not(.pending) .msg-text"


@pytest.fixture
def driver():
    started: list = []
    yield start_chromium(started)
    quit_all(started)


def contents(user, conversation_id: int) -> list[str]:
    return [m["content"] for m in user.get(f"conversations/{conversation_id}/messages").json()["results"]]


# Whether the page had the browser ask before leaving (beforeunload's preventDefault), noted where
# the next page of the tab reads it. Headless Chromium leaves without showing the dialog.
NOTE_ASKED = """
window.addEventListener('beforeunload', (event) => {
  sessionStorage.setItem('asked', String(event.defaultPrevented));
});
window.beforeTheReload = true;
setTimeout(() => location.reload(), 0);
"""


def reload(driver) -> None:
    """Reload the page as its user would, and wait for the new one (the old one marked itself)."""
    driver.execute_script(NOTE_ASKED)
    wait(driver, lambda d: d.execute_script("return window.beforeTheReload") is None)


def open_bob(driver) -> None:
    click(driver, '#conversations .conv[data-peer="bob"]')
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#message-list .msg:not(.pending)"))


def test_a_message_written_offline_outlives_an_offline_reload_and_is_sent_once(
    start_daphne, celery_worker, alice, bob, driver
):
    server = start_daphne()
    base = f"http://{server.address}"
    first = alice.send(bob, "still there?")
    log_in(driver, base, alice.username)
    wait(driver, lambda d: worker_ready(d)["controlled"])  # the service worker serves the next start
    open_bob(driver)

    server.stop()
    wait(driver, lambda d: "retrying in" in css(d, "#conn-status").text)
    send(driver, "written offline")
    wait(driver, lambda d: css(d, PENDING).text == "Waiting for connection…")

    # Reloaded with no network at all: the app starts from its cache, and the message is still
    # waiting in its chat (the page did not have the browser ask before leaving: nothing was at risk).
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    reload(driver)
    assert driver.execute_script("return sessionStorage.getItem('asked')") == "false"
    wait(driver, lambda d: css(d, "#me-name").text == "Alice")
    wait(driver, lambda d: css(d, PENDING).text == "Waiting for connection…")
    assert texts(driver, ".msg.pending .msg-text") == ["written offline"]
    assert css(driver, "#peer-name").text == "Bob"
    screenshot(driver, "outbox-offline-reload")
    assert serious(run_axe(driver)) == []

    # The server and the network come back: the page reconnects and sends it by itself.
    again = start_daphne(port=server.port)
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)
    wait_ws_ready(driver, timeout=45)
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".msg.pending"))
    wait(driver, lambda d: texts(d, SENT)[-1:] == ["written offline"])
    assert contents(bob, first["conversation_id"]) == ["still there?", "written offline"]

    # Answered, it left the outbox: the next start has nothing to send again.
    driver.refresh()
    wait_ws_ready(driver)
    wait(driver, lambda d: texts(d, SENT) == ["still there?", "written offline"])
    assert not driver.find_elements(By.CSS_SELECTOR, ".msg.pending")
    assert MessageRecord.objects.filter(content="written offline").count() == 1
    again.stop()


def log_out(driver, base: str) -> None:
    click(driver, ".logout-form button")
    wait(driver, lambda d: d.current_url.startswith(base + "/login/"))


# A network that lets the page's requests through but not its socket (as a proxy without WebSocket
# support would): once ``cutSockets()`` ran, the socket is closed and every new one fails.
SOCKETS_CUT = """
(() => {
  const Real = window.WebSocket;
  const made = [];
  window.cutSockets = () => {
    window.socketsCut = true;
    for (const ws of made) ws.close();
  };
  function CuttableWebSocket(url, protocols) {
    const ws = new Real(window.socketsCut ? url.replace('/ws/chat/', '/ws/cut/') : url, protocols);
    made.push(ws);
    return ws;
  }
  CuttableWebSocket.prototype = Real.prototype;
  Object.assign(CuttableWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = CuttableWebSocket;
})();
"""


def test_logging_out_forgets_the_queue_and_the_next_account_never_sees_it(
    daphne, celery_worker, alice, bob, carol, driver
):
    base = f"http://{daphne.address}"
    first = alice.send(bob, "still there?")
    bob_carol = bob.send(carol, "hi Carol")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SOCKETS_CUT})
    log_in(driver, base, alice.username)
    open_bob(driver)

    # The socket cannot get through (REST can): Alice's message waits in the outbox.
    driver.execute_script("cutSockets()")
    wait(driver, lambda d: "retrying in" in css(d, "#conn-status").text)
    send(driver, "for Bob only, from Alice")
    wait(driver, lambda d: css(d, PENDING).text == "Waiting for connection…")
    log_out(driver, base)

    # Carol signs in on the same browser: nothing of Alice's queue, and her own sends go out alone.
    log_in(driver, base, carol.username)
    open_bob(driver)
    send(driver, "hello Bob")
    wait(driver, lambda d: texts(d, SENT) == ["hello Bob"])
    assert not driver.find_elements(By.CSS_SELECTOR, ".msg.pending")
    assert "from Alice" not in css(driver, "#message-list").text
    assert contents(carol, bob_carol["conversation_id"]) == ["hi Carol", "hello Bob"]
    assert serious(run_axe(driver)) == []
    log_out(driver, base)

    # Alice again: her logout forgot the message, so it is neither shown nor sent.
    log_in(driver, base, alice.username)
    open_bob(driver)
    send(driver, "after logging in again")
    wait(driver, lambda d: texts(d, SENT)[-1:] == ["after logging in again"])
    assert not driver.find_elements(By.CSS_SELECTOR, ".msg.pending")
    assert contents(alice, first["conversation_id"]) == ["still there?", "after logging in again"]
    assert not MessageRecord.objects.filter(content="for Bob only, from Alice").exists()


def test_a_message_left_while_its_files_upload_comes_back_not_sent_with_its_text(
    daphne, celery_worker, alice, bob, driver, tmp_path
):
    """Files cannot be kept across a reload: the browser asks first, and the message is not lost silently."""
    base = f"http://{daphne.address}"
    first = alice.send(bob, "still there?")
    log_in(driver, base, alice.username)
    open_bob(driver)

    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + b"% padding\n" * 60_000 + b"%%EOF\n")
    driver.set_network_conditions(offline=False, latency=5, download_throughput=10_000_000, upload_throughput=10_000)
    css(driver, "#attach-file").send_keys(str(report))
    css(driver, "#input").send_keys("the report, see attached" + Keys.ENTER)
    wait(driver, lambda d: css(d, PENDING).text == "Uploading files…")

    # Leaving now would lose the file: the page has the browser ask (headless Chromium leaves anyway).
    reload(driver)
    assert driver.execute_script("return sessionStorage.getItem('asked')") == "true"
    driver.delete_network_conditions()
    wait_ws_ready(driver)
    failed = ".msg.pending.failed .pending-status"
    wait(driver, lambda d: css(d, failed).text.startswith("Not sent — The page was closed before its files"))
    assert texts(driver, ".msg.pending .msg-text") == ["the report, see attached"]
    screenshot(driver, "outbox-files-interrupted")
    assert serious(run_axe(driver)) == []

    # Edit puts the text back in the composer, to attach the file again; the note is gone for good.
    click(driver, ".msg.pending.failed .pending-status button:first-of-type")
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".msg.pending"))
    assert css(driver, "#input").get_attribute("value") == "the report, see attached"
    driver.refresh()
    wait_ws_ready(driver)
    wait(driver, lambda d: texts(d, SENT) == ["still there?"])
    assert not driver.find_elements(By.CSS_SELECTOR, ".msg.pending")
    assert contents(alice, first["conversation_id"]) == ["still there?"]


def test_two_tabs_of_one_user_keep_both_their_queued_messages(start_daphne, celery_worker, alice, bob, driver):
    """The tabs share one stored outbox: the second tab's write keeps the first tab's message."""
    server = start_daphne()
    base = f"http://{server.address}"
    first = alice.send(bob, "still there?")
    log_in(driver, base, alice.username)
    open_bob(driver)
    chat_url = driver.current_url
    tabs = [driver.current_window_handle]
    driver.switch_to.new_window("tab")
    driver.get(chat_url)
    wait(driver, lambda d: texts(d, SENT) == ["still there?"])
    tabs.append(driver.current_window_handle)

    server.stop()
    for tab, text in zip(tabs, ["from the first tab", "from the second tab"], strict=True):
        driver.switch_to.window(tab)
        wait(driver, lambda d: "retrying in" in css(d, "#conn-status").text)
        send(driver, text)
        wait(driver, lambda d: css(d, PENDING).text == "Waiting for connection…")

    # Both tabs close while the server is away; when it is back, Chat opens with both messages.
    driver.close()
    driver.switch_to.window(tabs[0])
    driver.get("about:blank")
    again = start_daphne(port=server.port)
    driver.get(chat_url)
    wait_ws_ready(driver, timeout=30)
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".msg.pending"))
    wait(driver, lambda d: sorted(texts(d, SENT)[1:]) == ["from the first tab", "from the second tab"])
    stored = contents(bob, first["conversation_id"])
    assert stored[0] == "still there?"
    assert sorted(stored[1:]) == ["from the first tab", "from the second tab"]
    again.stop()


# A browser without IndexedDB (an old one, or a private mode that refuses it).
NO_INDEXEDDB = "Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });"
# Whether the page would have the browser ask before leaving now (no navigation happens).
WOULD_ASK = "return !window.dispatchEvent(new Event('beforeunload', { cancelable: true }));"


def test_without_indexeddb_the_outbox_lasts_as_long_as_the_page(start_daphne, celery_worker, alice, bob, driver):
    server = start_daphne()
    base = f"http://{server.address}"
    first = alice.send(bob, "still there?")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_INDEXEDDB})
    log_in(driver, base, alice.username)
    open_bob(driver)
    assert driver.execute_script("return window.indexedDB") is None

    server.stop()
    wait(driver, lambda d: "retrying in" in css(d, "#conn-status").text)
    send(driver, "kept in memory")
    wait(driver, lambda d: css(d, PENDING).text == "Waiting for connection…")
    assert driver.execute_script(WOULD_ASK) is True  # a reload would lose it: the browser asks first

    again = start_daphne(port=server.port)
    wait_ws_ready(driver, timeout=45)
    wait(driver, lambda d: texts(d, SENT)[-1:] == ["kept in memory"])
    assert not driver.find_elements(By.CSS_SELECTOR, ".msg.pending")
    assert driver.execute_script(WOULD_ASK) is False
    assert contents(bob, first["conversation_id"]) == ["still there?", "kept in memory"]
    again.stop()
