"""The installable app in a real headless Chromium: manifest, service worker, offline start, the push button.

Headless Chromium has no push service to subscribe with, so the push button's
flow runs against a stubbed ``PushManager`` (a subscription the test made,
with real keys): what is checked is that the page asks with the server's
VAPID key and that the subscription reaches the server, then leaves it.
The worker's push handler gets pushes through CDP's
``ServiceWorker.deliverPushMessage``, as a push service would deliver them.
"""

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from webpush.models import PushSubscription

from .conftest import wait_for
from .test_browser import (
    css,
    log_in,
    quit_all,
    screenshot,
    severe_console_entries,
    start_chromium,
    wait,
)
from .test_browser_daily import run_axe, serious

pytestmark = pytest.mark.e2e

OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
ENDPOINT = "https://8.8.8.8/push/browser-test"


@pytest.fixture
def page(daphne):
    started: list = []
    driver = start_chromium(started)
    yield f"http://{daphne.address}", driver
    quit_all(started)


def peers(driver) -> list[str]:
    return [node.get_attribute("data-peer") for node in driver.find_elements(By.CSS_SELECTOR, "#conversations .conv")]


def run_async(driver, script: str):
    driver.set_script_timeout(20)
    return driver.execute_async_script("const done = arguments[arguments.length - 1];" + script)


def worker_ready(driver) -> dict:
    return run_async(
        driver,
        "navigator.serviceWorker.ready.then((r) => done({scope: r.scope, state: r.active && r.active.state,"
        " controlled: Boolean(navigator.serviceWorker.controller)}))",
    )


def test_the_app_installs_and_opens_offline_from_its_cache(start_daphne, alice, bob, carol):
    # Its own server, stopped below: the network emulation of the page does not reach the service
    # worker's own fetches in Chromium (tried: the worker got the fresh list), a stopped server does.
    server = start_daphne()
    base = f"http://{server.address}"
    started: list = []
    driver = start_chromium(started)
    try:
        _installs_and_opens_offline(base, driver, server, alice, bob, carol)
    finally:
        quit_all(started)


def _installs_and_opens_offline(base, driver, server, alice, bob, carol) -> None:
    bob.send(alice, "before going offline")
    log_in(driver, base, alice.username)
    wait(driver, lambda d: peers(d) == ["bob"])

    manifest_url = css(driver, 'link[rel="manifest"]').get_attribute("href")
    manifest = run_async(driver, f"fetch({json.dumps(manifest_url)}).then((r) => r.json()).then(done)")
    assert (manifest["start_url"], manifest["display"], manifest["scope"]) == ("/", "standalone", "/")
    assert manifest["name"] and manifest["theme_color"] and manifest["background_color"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert run_async(driver, f"fetch({json.dumps(icon['src'])}).then((r) => done(r.status))") == 200

    registration = worker_ready(driver)
    assert registration["scope"] == base + "/"
    wait(driver, lambda d: worker_ready(d)["controlled"])  # clients.claim(): this page is served by it now

    # Something changes on the server that the offline browser cannot learn: a new conversation.
    carol.send(alice, "you will not see this offline")
    server.stop()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    driver.refresh()
    # The shell and the last conversation list, from the cache: Bob's conversation, not Carol's.
    wait(driver, lambda d: peers(d) == ["bob"])
    wait(driver, lambda d: css(d, "#me-name").text == "Alice")
    assert driver.execute_script("return Boolean(navigator.serviceWorker.controller)")
    screenshot(driver, "pwa-offline")


def browser_subscription() -> dict:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"endpoint": ENDPOINT, "expirationTime": None, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


# A PushManager that answers like a browser's, without a push service: it remembers the key it
# was asked with, and the subscription it made until unsubscribed.
STUB = """
const json = arguments[0];
window.pushStub = {asked: null, subscription: null};
Notification.requestPermission = async () => 'granted';
PushManager.prototype.getSubscription = async () => window.pushStub.subscription;
PushManager.prototype.subscribe = async (options) => {
  window.pushStub.asked = Array.from(new Uint8Array(options.applicationServerKey));
  window.pushStub.subscription = {
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: async () => { window.pushStub.subscription = null; return true; },
  };
  return window.pushStub.subscription;
};
"""


def test_the_bell_subscribes_to_pushes_and_unsubscribes_with_the_keyboard(page, alice):
    """The header's one bell turns notifications on: in the tab, and by Web Push while Chat is closed."""
    base, driver = page
    log_in(driver, base, alice.username)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".sidebar-header button[aria-label*='otification']")) == 1
    wait(driver, lambda d: css(d, "#notify-toggle").is_displayed())
    assert css(driver, "#notify-toggle").get_attribute("aria-pressed") == "false"
    subscription = browser_subscription()
    driver.execute_script(STUB, subscription)

    css(driver, "#notify-toggle").send_keys(Keys.ENTER)  # a real <button>: Enter and Space work
    wait(driver, lambda d: css(d, "#notify-toggle").get_attribute("aria-pressed") == "true")
    stored = wait_for(lambda: PushSubscription.objects.filter(user_id=alice.id).first())
    assert (stored.endpoint, stored.p256dh, stored.auth) == (
        ENDPOINT,
        subscription["keys"]["p256dh"],
        subscription["keys"]["auth"],
    )
    # The key as the page's server answers it (its process caches the one in the database).
    key = run_async(driver, "fetch('/api/v1/push/key').then((r) => r.json()).then((b) => done(b.public_key))")
    asked = bytes(driver.execute_script("return window.pushStub.asked"))
    assert base64.urlsafe_b64encode(asked).rstrip(b"=").decode() == key
    wait(driver, lambda d: css(d, "#notify-toggle").get_attribute("title") == "Notifications: on")

    violations = serious(run_axe(driver))
    assert violations == [], json.dumps(violations, indent=2)

    css(driver, "#notify-toggle").send_keys(" ")
    wait(driver, lambda d: css(d, "#notify-toggle").get_attribute("aria-pressed") == "false")
    wait_for(lambda: not PushSubscription.objects.filter(user_id=alice.id).exists())
    assert driver.execute_script("return window.pushStub.subscription") is None
    assert severe_console_entries(driver) == []


def test_a_push_shows_one_notification_per_conversation(daphne, alice):
    """Pushes delivered to the worker as a push service would (CDP ServiceWorker.deliverPushMessage)."""
    base = f"http://{daphne.address}"
    started: list = []
    driver = start_chromium(started)
    try:
        driver.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["notifications"], "origin": base})
        log_in(driver, base, alice.username)
        worker_ready(driver)
        wait(driver, lambda d: worker_ready(d)["controlled"])
        driver.execute_cdp_cmd("ServiceWorker.enable", {})
        shown = (
            "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
            ".then((ns) => done(ns.map((n) => [n.title, n.body, n.tag, n.data.conversation_id])))"
        )
        # One per conversation: the later replaced the earlier (the worker may take two pushes in either order).
        expected = ([["Bob", "second", "conversation-45", 45]], [["Bob", "first", "conversation-45", 45]])
        # CDP's delivery is fire-and-forget: on a busy machine one was seen lost, so deliver again
        # (the same tag, so a repeat changes nothing that is shown).
        for _attempt in range(3):
            for msg_id, preview in ((1, "first"), (2, "second")):
                data = {"conversation_id": 45, "msg_id": msg_id, "sender_id": 7, "sender_nickname": "Bob"}
                driver.execute_cdp_cmd(
                    "ServiceWorker.deliverPushMessage",
                    # "0": the only registration of a fresh profile (chromedriver's logs do not carry
                    # the ServiceWorker domain's events, which would name it).
                    {"origin": base, "registrationId": "0", "data": json.dumps({**data, "preview": preview})},
                )
            try:
                wait(driver, lambda d: run_async(d, shown) in expected, timeout=10)
                break
            except TimeoutException:
                continue
        assert run_async(driver, shown) in expected
    finally:
        quit_all(started)
