"""Attachments in the browser UI: two real Chromium browsers against a daphne with its own media directory.

Alice sends Bob a photo (a generated JPEG, through the attach button's file
input), a pasted screenshot (a paste event carrying a PNG File) and a PDF
(uploaded over a throttled network, so its progress bar is seen and the send
waits for it); a file over the limit is refused before any upload. Bob sees
the thumbnails, opens one full size (Esc closes it, focus returns), and the
PDF's card with its download link. Screenshots go to tests/artifacts/.
"""

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from messaging.models import Attachment

from .test_browser import browser, css, log_in, screenshot, severe_console_entries, texts, wait
from .test_browser_daily import conv, open_chat, run_axe, serious

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # a fixture

LIMIT = 2_000_000  # CHAT_ATTACHMENT_MAX_BYTES of this test's daphne

PASTE_SCREENSHOT = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement('canvas');
canvas.width = 640; canvas.height = 400;
const g = canvas.getContext('2d');
g.fillStyle = '#2b6cb0'; g.fillRect(0, 0, 640, 400);
g.fillStyle = '#ffffff'; g.font = '40px sans-serif'; g.fillText('screenshot', 180, 210);
canvas.toBlob((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], 'image.png', { type: 'image/png' }));
  const input = document.getElementById('input');
  input.focus();
  input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  done(true);
}, 'image/png');
"""

DROP_FILE = """
const data = new DataTransfer();
const bytes = new Uint8Array([37, 80, 68, 70, 45, 49, 46, 52, 10]);
data.items.add(new File([bytes], 'dropped.pdf', { type: 'application/pdf' }));
const target = document.getElementById('conversation');
for (const type of ['dragenter', 'dragover', 'drop']) {
  target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
}
"""

# Every progress value any upload bar showed, and whether a send waited for an upload.
WATCH_PROGRESS = """
window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.classList && r.target.classList.contains('upload-progress')) {
      window.__progress.push(Number(r.target.value));
    }
  }
}).observe(document.getElementById('attach-tray'), { attributes: true, subtree: true, attributeFilter: ['value'] });
"""


def photo_file(tmp_path):
    image = Image.new("RGB", (1200, 900))
    for x in range(0, 1200, 60):
        image.paste((x % 255, 120, 255 - x % 255), (x, 0, x + 60, 900))
    path = tmp_path / "holiday.jpg"
    image.save(path, "JPEG", quality=85)
    return path


def pdf_file(tmp_path):
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + b"% padding\n" * 60_000 + b"%%EOF\n"
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    return path


def test_photo_screenshot_and_pdf_go_from_alice_to_bob(start_daphne, celery_worker, alice, bob, browser, tmp_path):
    server = start_daphne(CHAT_MEDIA_ROOT=str(tmp_path / "media"), CHAT_ATTACHMENT_MAX_BYTES=str(LIMIT))
    base = f"http://{server.address}"
    alice.send(bob, "Photos from the trip are coming")
    alice_page, bob_page = browser(), browser()
    log_in(alice_page, base, alice.username)
    log_in(bob_page, base, bob.username)
    open_chat(alice_page, "bob")
    assert css(alice_page, "#composer").get_attribute("data-attachment-max-bytes") == str(LIMIT)
    attach_button = css(alice_page, "#attach-button")
    assert attach_button.get_attribute("aria-label") == "Attach files" and attach_button.tag_name == "button"
    file_input = css(alice_page, "#attach-file")

    # Too big: refused on the page, before any upload.
    big = tmp_path / "huge.bin"
    big.write_bytes(b"\0" * (LIMIT + 1))
    file_input.send_keys(str(big))
    wait(alice_page, lambda d: "Too big to send" in css(d, '.upload[data-state="failed"] .upload-status').text)
    assert css(alice_page, '.upload[data-state="failed"] .upload-status').get_attribute("role") == "alert"
    screenshot(alice_page, "attachments-too-big")
    assert Attachment.objects.count() == 0
    css(alice_page, ".upload-cancel").click()  # Dismiss
    wait(alice_page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".upload"))

    # A file dropped on the chat joins the tray; Cancel (or Remove, once uploaded) takes it out.
    alice_page.execute_script(DROP_FILE)
    wait(alice_page, lambda d: "dropped.pdf" in css(d, ".upload-name").text)
    css(alice_page, ".upload-cancel").click()
    wait(alice_page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".upload"))

    # A photo, sent without text once uploaded.
    alice_page.execute_script(WATCH_PROGRESS)
    file_input.send_keys(str(photo_file(tmp_path)))
    wait(alice_page, lambda d: css(d, '.upload[data-state="done"]'))
    css(alice_page, "#input").send_keys(Keys.ENTER)
    wait(alice_page, lambda d: d.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"] .attachment-thumb img'))
    wait(alice_page, lambda d: not d.find_elements(By.CSS_SELECTOR, ".upload"))

    # A pasted screenshot, with a caption.
    alice_page.execute_async_script(PASTE_SCREENSHOT)
    wait(alice_page, lambda d: css(d, '.upload[data-state="done"]'))
    assert "image.png" in css(alice_page, ".upload-name").text
    css(alice_page, "#input").send_keys("My screen right now" + Keys.ENTER)
    wait(alice_page, lambda d: "My screen right now" in texts(d, ".msg.out .msg-text"))
    wait(
        alice_page,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"] .attachment-thumb')) == 2,
    )

    # A PDF over a slow network: its progress bar moves; Enter while it uploads sends once it is done.
    alice_page.set_network_conditions(
        offline=False, latency=5, download_throughput=10_000_000, upload_throughput=150_000
    )
    try:
        alice_page.execute_script("window.__progress = []")
        file_input.send_keys(str(pdf_file(tmp_path)))
        wait(alice_page, lambda d: d.execute_script("return window.__progress.some((v) => v > 0 && v < 100)"))
        assert css(alice_page, ".upload-progress").is_displayed()
        screenshot(alice_page, "attachments-uploading")
        css(alice_page, "#input").send_keys(Keys.ENTER)
        wait(alice_page, lambda d: "Uploading files" in css(d, ".msg.out.pending .pending-status").text, timeout=5)
        wait(
            alice_page,
            lambda d: d.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"] .attachment-file'),
            timeout=60,
        )
    finally:
        alice_page.delete_network_conditions()
    progress = alice_page.execute_script("return window.__progress")
    assert 100 in progress and any(0 < value < 100 for value in progress), progress

    # Bob: the list preview names the file; the chat shows both thumbnails and the PDF's card.
    wait(bob_page, lambda d: css(d, conv("alice") + " .item-preview").text == "📎 report.pdf")
    open_chat(bob_page, "alice")
    wait(bob_page, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.in .attachment-thumb img")) == 2)
    wait(
        bob_page,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.msg.in .attachment-thumb img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)"
        ),
    )
    card = css(bob_page, ".msg.in .attachment-file")
    assert card.find_element(By.CSS_SELECTOR, ".attachment-name").text == "report.pdf"
    assert card.find_element(By.CSS_SELECTOR, ".attachment-size").text == "600 KB"
    link = card.find_element(By.CSS_SELECTOR, "a.attachment-download")
    assert link.get_attribute("download") == "report.pdf" and "/api/v1/attachments/" in link.get_attribute("href")
    assert "My screen right now" in texts(bob_page, ".msg.in .msg-text")
    screenshot(bob_page, "attachments-received")
    report = {"chat": run_axe(bob_page)}

    # The full-size view: a dialog; Esc closes it and focus returns to the thumbnail.
    first = bob_page.find_elements(By.CSS_SELECTOR, ".msg.in .attachment-thumb")[0]
    first.click()
    viewer = "#attachment-viewer"
    wait(bob_page, lambda d: css(d, viewer).get_attribute("open") is not None)
    wait(
        bob_page,
        lambda d: d.execute_script(
            f"const i = document.querySelector('{viewer} img'); return i.complete && i.naturalWidth === 1200"
        ),
    )
    assert css(bob_page, viewer + " img").get_attribute("alt") == "holiday.jpg"
    report["viewer"] = run_axe(bob_page)
    screenshot(bob_page, "attachments-viewer")
    bob_page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(bob_page, lambda d: css(d, viewer).get_attribute("open") is None)
    assert bob_page.switch_to.active_element.get_attribute("data-attachment-id") == first.get_attribute(
        "data-attachment-id"
    )

    assert {page: serious(v) for page, v in report.items() if serious(v)} == {}
    assert severe_console_entries(alice_page) == severe_console_entries(bob_page) == []
    # Nothing was written as markup: the names are text nodes.
    assert "<" not in css(bob_page, ".attachment-name").get_attribute("innerHTML")


def test_an_upload_cut_off_by_the_network_can_be_retried(start_daphne, celery_worker, alice, bob, browser, tmp_path):
    """The upload's request fails (blocked, as a dropped network would): Retry sends the same file again."""
    server = start_daphne(CHAT_MEDIA_ROOT=str(tmp_path / "media"), CHAT_ATTACHMENT_MAX_BYTES=str(LIMIT))
    alice.send(bob, "one more photo")
    page = browser()
    log_in(page, f"http://{server.address}", alice.username)
    open_chat(page, "bob")
    page.execute_cdp_cmd("Network.enable", {})
    page.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/v1/attachments"]})
    try:
        css(page, "#attach-file").send_keys(str(photo_file(tmp_path)))
        wait(page, lambda d: css(d, '.upload[data-state="failed"]'))
        assert "cannot be reached" in css(page, ".upload-status").text
        retry = css(page, ".upload-retry")
        assert retry.text == "Retry" and retry.get_attribute("aria-label") == "Retry holiday.jpg"
        screenshot(page, "attachments-retry")
        assert Attachment.objects.count() == 0
    finally:
        page.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    retry.send_keys(Keys.ENTER)  # keyboard usable
    wait(page, lambda d: css(d, '.upload[data-state="done"]'))
    assert not page.find_elements(By.CSS_SELECTOR, ".upload-retry")
    assert page.switch_to.active_element.get_attribute("class") == "link-button upload-cancel"
    css(page, "#input").send_keys("second try" + Keys.ENTER)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, '.msg.out[data-state="sent"] .attachment-thumb img'))
    [row] = Attachment.objects.all()
    assert row.message is not None and row.message.content == "second try" and row.message.recipient_id == bob.id
