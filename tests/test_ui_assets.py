"""The chat page's scripts: every one it loads, and every module they import, is served and cached.

The page is a few classic scripts and an ES module, chat/chat.js, which imports the views in
chat/app/ and the JavaScript SDK (/static/sdk/) with relative imports. The service worker must
cache the whole import graph, or the installed app's offline start stops at the first missing
module; chat_project/ui/app.py lists the files for both.
"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.{1,2}/[^'"]+)['"]""", re.MULTILINE)
STATIC = "/static/"


class Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classic: list[str] = []
        self.modules: list[str] = []
        self.preloaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            (self.modules if a.get("type") == "module" else self.classic).append(a["src"])
        if tag == "link" and a.get("rel") == "modulepreload":
            self.preloaded.append(a["href"])


def import_graph(entries: list[str]) -> set[str]:
    """Every module URL reachable from ``entries`` by relative static imports (each file must exist)."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        path = finders.find(url.removeprefix(STATIC))
        assert isinstance(path, str), f"{url} is imported but not served"
        with open(path, encoding="utf-8") as file:
            todo.extend(urljoin(url, spec) for spec in IMPORT.findall(file.read()))
    return seen


def test_the_service_worker_caches_every_script_and_module_of_the_chat_page(make_user):
    alice = make_user("alice", "Alice")
    browser = Client()
    browser.force_login(get_user_model().objects.get(pk=alice.id))
    page = browser.get("/")
    assert page.status_code == 200
    scripts = Scripts()
    scripts.feed(page.content.decode())
    assert scripts.modules == [STATIC + "chat/chat.js"]
    graph = import_graph(scripts.modules)
    assert STATIC + "sdk/client.js" in graph  # the UI runs on the SDK
    # Preloading names exactly what the page imports: no module left to a later round trip, none extra.
    assert set(scripts.preloaded) == graph - set(scripts.modules)

    # The worker's list is JavaScript strings (escapejs writes "-" as \u002D).
    worker = re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: chr(int(m[1], 16)), browser.get("/sw.js").content.decode())
    shell = set(re.findall(r"'(/static/[^']+)'", worker))
    missing = (set(scripts.classic) | graph) - shell
    assert not missing, f"not cached for an offline start: {sorted(missing)}"
