"""The limits of PROTOCOL.md, each defined once: serializers, checks, the schema and the UI read them here."""

# Every id (user, conversation, message, sync cursor) is below 2^53, so
# JavaScript numbers and Redis scores hold it exactly; anything larger is a
# mistake of the client, refused before SQL or Redis sees it.
MAX_ID = (1 << 53) - 1

# A message's content: 1..4000 code points after trimming.
MAX_CONTENT_CODE_POINTS = 4000
# A client's own id for a send (idempotency key).
MAX_CLIENT_MSG_ID = 64
# A client's tag on any socket frame (1.2 ``ref``), echoed by its ack or error.
MAX_FRAME_REF = 64

# Most users one socket may watch (version 1.1 ``watch``).
MAX_WATCHED_USERS = 100

# Accounts.
USERNAME_MAX = 150
NICKNAME_MAX = 64
PASSWORD_MAX = 128

# The close code of a socket that is not (or no longer) authenticated.
CLOSE_UNAUTHENTICATED = 4401
# The close code of a socket its server is draining (RFC 6455 "Service Restart"):
# reconnect, and the load balancer picks another host.
CLOSE_SERVICE_RESTART = 1012
# The close code of a socket refused because its process is opening too many at once
# (RFC 6455 "Try Again Later"; common/connect_gate.py): reconnect after the usual backoff.
CLOSE_TRY_AGAIN_LATER = 1013
