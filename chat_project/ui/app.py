"""The installable app (PWA): the web app manifest and the service worker, both at the site root.

The service worker is a template (templates/sw.js) so that it names the
static files as this deployment serves them (hashed names included) and
carries a version that changes with them: a new version replaces the cached
app shell. Served at /sw.js, its scope is the whole site.
"""

import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.templatetags.static import static

# The chat page's scripts (templates/chat.html). The classic ones run first, in this order, and
# register window.ChatModules; then the ES module chat/chat.js, which imports the views in
# chat/app/ and the JavaScript SDK (sdk/js/src, served as sdk/). docs/architecture.md, "The browser UI".
CLASSIC_SCRIPTS = [
    "chat/navigation.js",
    "chat/composer-keys.js",
    "chat/profile-picture.js",
    "chat/scroll-keeper.js",
    "chat/unread-landing.js",
    "chat/web-push.js",
    "chat/attachments.js",
    # Protocol 1.2 views: menu.js first (the others open its menus).
    "chat/menu.js",
    "chat/message-actions.js",
    "chat/reactions.js",
    "chat/reply.js",
    "chat/block.js",
    "chat/conversation-menu.js",
    "chat/message-search.js",
]
MODULE_ENTRY = "chat/chat.js"
# Node-only: never imported by a browser.
_SDK_NODE_ONLY = {"node.js"}


@lru_cache(maxsize=1)
def module_files() -> list[str]:
    """Every ES module the entry imports, directly or not: the views and the SDK (preloaded, cached offline)."""
    views = sorted(f"chat/app/{path.name}" for path in (settings.BASE_DIR / "static" / "chat" / "app").glob("*.js"))
    sdk = sorted(
        f"sdk/{path.name}"
        for path in (settings.BASE_DIR / "sdk" / "js" / "src").glob("*.js")
        if path.name not in _SDK_NODE_ONLY
    )
    return views + sdk


# What the chat page loads: cached so the UI opens offline.
STYLES_AND_ICONS = [
    "chat/chat.css",
    "chat/features.css",
    "chat/favicon.svg",
    "chat/icon-192.png",
    "chat/icon-512.png",
]


def shell_files() -> list[str]:
    return [*STYLES_AND_ICONS, *CLASSIC_SCRIPTS, MODULE_ENTRY, *module_files()]


THEME_COLOR = "#5b5bd6"
BACKGROUND_COLOR = "#eef0f5"


@lru_cache(maxsize=1)
def _shell_version() -> str:
    digest = hashlib.sha256()
    for name in shell_files():
        path = finders.find(name)
        if isinstance(path, str):
            with open(path, "rb") as file:
                digest.update(file.read())
    return digest.hexdigest()[:16]


def manifest(request: HttpRequest) -> HttpResponse:
    body = {
        "name": "Chat",
        "short_name": "Chat",
        "description": "One-to-one chat.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            {"src": static("chat/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("chat/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": static("chat/favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")


def service_worker(request: HttpRequest) -> HttpResponse:
    script = render_to_string("sw.js", {"version": _shell_version(), "shell": [static(name) for name in shell_files()]})
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    # The browser checks for a new worker on every visit, never from a stale HTTP cache.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response
