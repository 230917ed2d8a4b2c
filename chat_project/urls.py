from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from conversations.views import ConversationListView, ConversationView, ConversationWithView
from messaging.attachment_views import (
    AttachmentLimitsView,
    AttachmentThumbnailView,
    AttachmentUploadView,
    AttachmentView,
)
from messaging.views import (
    ConversationMessagesView,
    MarkReadView,
    MessageReactionView,
    MessageView,
    OfflineAckView,
    OfflineView,
    SearchView,
    SendMessageView,
    SyncPositionView,
    SyncView,
)
from profiles.avatars import media_urlpatterns
from profiles.views import (
    AvatarView,
    BlockListView,
    BlockView,
    MeView,
    RegisterView,
    TokenView,
    UserSearchView,
    UserView,
)
from unread.views import UnreadView
from webpush.views import PushKeyView, PushSubscriptionsView

from . import pages
from .common import api_errors
from .ui import app, web


class SchemaFormatNegotiation(DefaultContentNegotiation):
    """``/api/schema/?format=json`` picks the schema's format; everywhere else (URL_FORMAT_OVERRIDE
    is None) ``format`` is an ordinary, ignored query parameter. An unknown format is ignored here too."""

    def select_renderer(self, request, renderers, format_suffix=None):
        wanted = format_suffix or request.query_params.get("format")
        if wanted not in {renderer.format for renderer in renderers}:
            wanted = None
        return super().select_renderer(request, renderers, wanted)


# PROTOCOL.md writes paths without a trailing slash and the server accepts
# both: every pattern ends in "/?$".
api_v1 = [
    re_path(r"^auth/register/?$", RegisterView.as_view()),
    re_path(r"^auth/token/?$", TokenView.as_view()),
    re_path(r"^me/?$", MeView.as_view()),
    re_path(r"^me/avatar/?$", AvatarView.as_view()),
    re_path(r"^users/?$", UserSearchView.as_view()),
    re_path(r"^users/(?P<user_id>[0-9]+)/?$", UserView.as_view()),
    re_path(r"^users/(?P<user_id>[0-9]+)/block/?$", BlockView.as_view()),
    re_path(r"^blocks/?$", BlockListView.as_view()),
    re_path(r"^conversations/?$", ConversationListView.as_view()),
    re_path(r"^conversations/(?P<conversation_id>[0-9]+)/?$", ConversationView.as_view()),
    re_path(r"^conversations/with/(?P<user_id>[0-9]+)/?$", ConversationWithView.as_view()),
    re_path(r"^conversations/(?P<conversation_id>[0-9]+)/messages/?$", ConversationMessagesView.as_view()),
    re_path(r"^conversations/(?P<conversation_id>[0-9]+)/read/?$", MarkReadView.as_view()),
    re_path(r"^messages/?$", SendMessageView.as_view()),
    re_path(r"^messages/(?P<msg_id>[0-9]+)/?$", MessageView.as_view()),
    re_path(r"^messages/(?P<msg_id>[0-9]+)/reaction/?$", MessageReactionView.as_view()),
    re_path(r"^unread/?$", UnreadView.as_view()),
    re_path(r"^offline/?$", OfflineView.as_view()),
    re_path(r"^offline/ack/?$", OfflineAckView.as_view()),
    re_path(r"^sync/?$", SyncView.as_view()),
    re_path(r"^sync/position/?$", SyncPositionView.as_view()),
    re_path(r"^attachments/?$", AttachmentUploadView.as_view()),
    re_path(r"^attachments/limits/?$", AttachmentLimitsView.as_view()),
    re_path(r"^attachments/(?P<attachment_id>[0-9]+)/?$", AttachmentView.as_view()),
    re_path(r"^attachments/(?P<attachment_id>[0-9]+)/thumbnail/?$", AttachmentThumbnailView.as_view()),
    re_path(r"^search/?$", SearchView.as_view()),
    re_path(r"^push/key/?$", PushKeyView.as_view()),
    re_path(r"^push/subscriptions/?$", PushSubscriptionsView.as_view()),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", pages.healthz),
    re_path(r"^api/v1/", include(api_v1)),
    re_path(
        r"^api/schema/?$",
        SpectacularAPIView.as_view(content_negotiation_class=SchemaFormatNegotiation),
        name="schema",
    ),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Uploaded avatars under MEDIA_URL, in development only (CHAT_SERVE_STATIC; profiles/avatars.py).
    *media_urlpatterns(),
    # Anything else under /api/ is a JSON not_found, never an HTML page.
    re_path(r"^api/", api_errors.api_not_found),
    # The browser UI (chat_project/ui/web.py): session log-in, then the chat page.
    path("login/", web.login_page, name="login"),
    path("logout/", web.logout_page, name="logout"),
    path("signup/", web.signup, name="signup"),
    path("", web.chat, name="index"),
    # The installable app (chat_project/ui/app.py): at the root, so the worker's scope is the whole site.
    path("manifest.webmanifest", app.manifest, name="manifest"),
    path("sw.js", app.service_worker, name="service-worker"),
]

handler400 = "chat_project.pages.bad_request"
handler403 = "chat_project.pages.permission_denied"
handler404 = "chat_project.pages.not_found"
handler500 = "chat_project.pages.server_error"
