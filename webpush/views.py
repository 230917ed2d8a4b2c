from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat_project.common.api import json_body
from chat_project.common.schema import RETRY_AFTER, answers, ok

from . import services
from .inputs import SUBSCRIBE_SERIALIZER, UNSUBSCRIBE, parse_subscribe
from .serializers import PushKeySerializer

KEY_EXAMPLE = {"public_key": "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"}
SUBSCRIPTION_EXAMPLE = {
    "endpoint": "https://fcm.googleapis.com/fcm/send/c1KrmpTuRm0:APA91bE",
    "keys": {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg",
    },
}
RATE = "The user changed subscriptions more often than `CHAT_WEBPUSH_SUBSCRIBE_RATE` allows (default 30 an hour)."


class PushKeyView(APIView):
    @extend_schema(
        summary="The Web Push application server key",
        description="The server's VAPID public key (RFC 8292), to pass as `applicationServerKey` to the "
        "browser's `pushManager.subscribe`. Made on first use and kept in the database: every server node "
        "answers the same key.",
        responses=answers({200: ok(PushKeySerializer, "The key.", KEY_EXAMPLE)}),
    )
    def get(self, request):
        return Response(services.public_key())


class PushSubscriptionsView(APIView):
    @extend_schema(
        summary="Subscribe this browser to Web Push",
        description="Stores a browser's `PushSubscription` (its `toJSON()`). While none of the user's sockets "
        "is connected, each new message to them is pushed to every subscription, encrypted (RFC 8291): "
        '`{"conversation_id", "msg_id", "sender_id"}` and, unless the server sets `CHAT_WEBPUSH_PREVIEW=off`, '
        '`"sender_nickname"` and `"preview"` (the first 100 code points of the text; for a message of attachments '
        'only, what it carries: "📷 Photo", "📎 minutes.pdf"). Nothing for a muted conversation. '
        "Idempotent per endpoint (subscribing again replaces the keys, and moves the endpoint to this user); "
        "at most `CHAT_WEBPUSH_MAX_SUBSCRIPTIONS` (default 10) per user, the oldest dropped. A subscription "
        "its push service answers 404 or 410 is deleted. The endpoint must be an https URL on a public host: "
        "http, or a host that is or resolves to a loopback, private or link-local address, is a "
        "validation_error. Rate limited per user together with DELETE.",
        request=SUBSCRIBE_SERIALIZER,
        parameters=[RETRY_AFTER],
        responses=answers(
            {201: None},
            body=True,
            invalid="the endpoint is not an https URL on a public host (or does not resolve), or a key is not "
            "base64url of the right size (p256dh 65 bytes, auth 16).",
            invalid_errors={"endpoint": ["Must be an https URL."]},
            rate_limited=RATE,
        ),
        examples=[OpenApiExample("subscription", value=SUBSCRIPTION_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        services.subscribe(request.user.pk, parse_subscribe(json_body(request)))
        return Response(status=201)

    @extend_schema(
        summary="Unsubscribe a browser from Web Push",
        description="Deletes the user's subscription with this endpoint; idempotent (an unknown endpoint "
        "answers 204 too). Rate limited per user together with POST.",
        request=UNSUBSCRIBE.serializer(),
        parameters=[RETRY_AFTER],
        responses=answers({204: None}, body=True, rate_limited=RATE),
        examples=[OpenApiExample("endpoint", value={"endpoint": SUBSCRIPTION_EXAMPLE["endpoint"]}, request_only=True)],
    )
    def delete(self, request):
        services.unsubscribe(request.user.pk, UNSUBSCRIBE.parse(json_body(request)).endpoint)
        return Response(status=204)
