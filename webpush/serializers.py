from rest_framework import serializers


class PushKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(
        help_text="The VAPID application server key (P-256 public key, uncompressed point), base64url: "
        "`applicationServerKey` of `pushManager.subscribe`."
    )

    class Meta:
        ref_name = "PushKey"
