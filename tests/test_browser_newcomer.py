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

from .test_browser import css, quit_all, screenshot, start_chromium, wait

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
