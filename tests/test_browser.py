"""The browser UI end to end: two real Chromium browsers against a real daphne and Celery worker.

Alice and Bob log in through /login/ and use the page exactly as people do:
search, send, live conversation list with unread badge, read receipt,
typing indicator, recall (with its confirmation), and HTML in a message
staying text. The helpers here serve tests/test_browser_*.py too.
"""

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import PASSWORD

pytestmark = pytest.mark.e2e

# Screenshots of the main screens (gitignored), kept after the run.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
HEADLESS_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,820",
]


def start_chromium(started: list[tuple[WebDriver, str]]) -> WebDriver:
    """A headless Chromium (Debian's chromium + chromium-driver) with its own profile directory."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("needs Debian's chromium and chromium-driver packages (.ci/run installs them)")
    profile = tempfile.mkdtemp(prefix="chat-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*HEADLESS_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    started.append((driver, profile))
    return driver


def quit_all(started: list[tuple[WebDriver, str]]) -> None:
    for driver, profile in started:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser():
    """Start headless Chromium browsers; quit them afterwards."""
    started: list[tuple[WebDriver, str]] = []
    yield lambda: start_chromium(started)
    quit_all(started)


# Chrome's word for an element found in the document a navigation has just replaced:
# a stale element that WebDriver reports as an unknown error.
NODE_LEFT_DOCUMENT = "does not belong to the document"


def wait(driver: WebDriver, condition: Callable[[WebDriver], object], timeout: float = 15):
    """Poll ``condition`` (missing, re-rendered or navigated-away elements just mean: not yet)."""

    def polled(d: WebDriver) -> object:
        try:
            return condition(d)
        except WebDriverException as error:
            if NODE_LEFT_DOCUMENT in (error.msg or ""):
                return False
            raise

    return WebDriverWait(
        driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(polled)


def css(driver: WebDriver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def texts(driver: WebDriver, selector: str) -> list[str]:
    return [node.text for node in driver.find_elements(By.CSS_SELECTOR, selector)]


def click(driver: WebDriver, selector: str) -> None:
    def clicked(d):
        css(d, selector).click()
        return True

    wait(driver, clicked)


def log_in(driver: WebDriver, base: str, username: str) -> None:
    driver.get(base + "/")
    wait(driver, lambda d: d.current_url.startswith(base + "/login/"))  # login_required
    css(driver, "#id_username").send_keys(username)
    css(driver, "#id_password").send_keys(PASSWORD + Keys.ENTER)
    # The chat page is up and its WebSocket (session cookie) got `ready`.
    wait_ws_ready(driver)


def ws_state(driver: WebDriver) -> str | None:
    """The page's ``data-ws`` in one script call, so it cannot straddle a navigation.

    A ``find_element`` on the old document then ``get_attribute`` on it after the form
    posted fails in Chrome with "Node with given id does not belong to the document".
    """
    return driver.execute_script("return document.body ? document.body.dataset.ws || null : null")


def wait_ws_ready(driver: WebDriver, timeout: float = 15) -> None:
    """Wait until the chat page is up and its WebSocket got ``ready``."""
    wait(driver, lambda d: ws_state(d) == "ready", timeout=timeout)


def send(driver: WebDriver, text: str) -> None:
    composer = css(driver, "#input")
    composer.send_keys(text)
    composer.send_keys(Keys.ENTER)


def severe_console_entries(driver: WebDriver) -> list[dict]:
    """Console errors, less the contract's own "no conversation with this user yet" (404 from conversations/with)."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not ("/api/v1/conversations/with/" in entry["message"] and "404" in entry["message"])
    ]


def badge(driver: WebDriver, conversation: str) -> str | None:
    """The unread count shown on a conversation (the badge's digits; it also carries "N unread messages")."""
    found = driver.find_elements(By.CSS_SELECTOR, conversation + " .badge")
    return found[0].get_attribute("data-count") if found else None


def recall_button(driver: WebDriver, msg_node):
    ActionChains(driver).move_to_element(msg_node.find_element(By.CSS_SELECTOR, ".bubble")).perform()
    return msg_node.find_element(By.CSS_SELECTOR, ".recall")


def recall(driver: WebDriver, msg_node) -> None:
    """Recall through the UI: the recall button, then "Recall" in the confirmation dialog."""
    recall_button(driver, msg_node).click()
    wait(driver, lambda d: css(d, "#confirm-dialog").get_attribute("open") is not None)
    click(driver, "#confirm-ok")


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_two_people_chat_in_the_browser(daphne, celery_worker, alice, bob, browser):
    base = f"http://{daphne.address}"
    alice_page, bob_page = browser(), browser()
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    assert "No conversations yet" in css(bob_page, "#empty-list").text

    # Alice finds Bob and writes to him: shown pending, then acknowledged.
    css(alice_page, "#search").send_keys("bo")
    click(alice_page, '#search-results button.person[data-username="bob"]')
    wait(alice_page, lambda d: css(d, "#peer-name").text == "Bob")
    hello = "Hi Bob, lunch at noon?"
    send(alice_page, hello)
    wait(alice_page, lambda d: css(d, '.msg.out[data-state="sent"] .msg-text').text == hello)
    assert css(alice_page, "#input").get_attribute("value") == ""

    # Bob's conversation list shows it live, with an unread badge; he opens it.
    conversation = '#conversations .conv[data-peer="alice"]'
    wait(bob_page, lambda d: badge(d, conversation) == "1")
    assert css(bob_page, conversation + " .badge .sr-only").get_attribute("textContent") == "1 unread message"
    assert css(bob_page, conversation + " .item-preview").text == hello
    assert css(bob_page, conversation + " .item-name").text == "Alice"
    click(bob_page, conversation)
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text") == [hello])
    wait(bob_page, lambda d: badge(d, conversation) is None)
    assert css(bob_page, conversation).get_attribute("aria-current") == "page"

    # Alice sees the read receipt under her message, and ✓✓ in it.
    wait(alice_page, lambda d: texts(d, ".msg.out .receipt") == ["Read"])
    assert css(alice_page, ".msg.out .tick").get_attribute("title") == "Read"

    # Bob types: Alice sees it; Bob answers.
    css(bob_page, "#input").send_keys("Sure")
    wait(alice_page, lambda d: css(d, "#peer-status").text == "typing…")
    css(bob_page, "#input").send_keys(", see you there!" + Keys.ENTER)
    wait(alice_page, lambda d: texts(d, ".msg.in .msg-text") == ["Sure, see you there!"])

    # Markup in a message is shown as text and never runs.
    script = "<script>alert(1)</script>"
    send(alice_page, script)
    wait(bob_page, lambda d: texts(d, ".msg.in .msg-text")[-1:] == [script])
    with pytest.raises(NoAlertPresentException):
        bob_page.switch_to.alert  # noqa: B018 - the property raises when no alert is open
    assert bob_page.execute_script("return document.querySelectorAll('#message-list script').length") == 0
    last = bob_page.find_elements(By.CSS_SELECTOR, ".msg.in .msg-text")[-1]
    assert "&lt;script&gt;" in last.get_attribute("innerHTML")
    wait(bob_page, lambda d: css(d, conversation + " .item-preview").text == script)

    # Alice recalls it (and confirms); both pages say who recalled it.
    mine = alice_page.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"]')[-1]
    msg_id = mine.get_attribute("data-msg-id")
    recall(alice_page, mine)
    recalled = f'.msg[data-msg-id="{msg_id}"][data-state="recalled"]'
    wait(alice_page, lambda d: css(d, recalled + " .msg-text").text == "You recalled this message")
    wait(bob_page, lambda d: css(d, recalled + " .msg-text").text == "Alice recalled a message")
    wait(bob_page, lambda d: css(d, conversation + " .item-preview").text == "Alice recalled a message")

    screenshot(alice_page, "chat-list-and-open-chat")
    # No failed resource (static files, API calls), CSP violation or script error on either page.
    assert severe_console_entries(alice_page) == []
    assert severe_console_entries(bob_page) == []


# Recorded in the page before any of its scripts run (CDP Page.addScriptToEvaluateOnNewDocument):
# the moment the first conversation row is in the DOM, on the page's own performance clock.
LIST_RENDERED_PROBE = """
new MutationObserver((records, observer) => {
  if (document.querySelector('#conversations .conv')) {
    window.__listRenderedAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""

FIRST_PAINT_LOADS = 7


def paint_timings(driver: WebDriver) -> dict:
    """The page's first contentful paint, DOMContentLoaded and the conversation list's render, in ms."""
    wait(driver, lambda d: d.execute_script("return window.__listRenderedAt !== undefined"))
    wait(driver, lambda d: d.execute_script("return performance.getEntriesByName('first-contentful-paint').length"))
    return driver.execute_script(
        "const nav = performance.getEntriesByType('navigation')[0];"
        "return {fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,"
        " dom_content_loaded: nav.domContentLoadedEventEnd, list: window.__listRenderedAt};"
    )


def first_paint(driver: WebDriver, url: str) -> dict:
    driver.get(url)
    return paint_timings(driver)


def test_first_paint_of_the_chat_page(daphne, alice, bob, carol, browser, record_property):
    """The UI's first paint and the time until its conversation list shows (Performance API), recorded.

    No timing assertion: the figures depend on the machine. They go to tests/artifacts/first-paint.json
    (median of several loads, with the load average); docs/benchmarks.md quotes them.
    """
    for peer in (bob, carol):
        for n in range(3):
            peer.send(alice, f"message {n}")
    base = f"http://{daphne.address}"
    page = browser()
    page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LIST_RENDERED_PROBE})
    log_in(page, base, alice.username)
    # The first visit: nothing cached yet. The later loads: the service worker serves the app shell.
    first_visit = paint_timings(page)
    loads = [first_paint(page, base + "/") for _ in range(FIRST_PAINT_LOADS)]
    median = {key: sorted(load[key] for load in loads)[len(loads) // 2] for key in loads[0]}
    with open("/proc/loadavg") as file:
        load_average = file.read().split()[:3]
    report = {"first_visit": first_visit, "loads": loads, "median_ms": median, "load_average": load_average}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first-paint.json").write_text(json.dumps(report, indent=2))
    record_property("first_paint_median_ms", median)
    assert wait(page, lambda d: css(d, '#conversations .conv[data-peer="carol"]'))
    assert severe_console_entries(page) == []
