"""The ground floor: what every app uses, importing no app and none of the wiring.

Errors and their JSON rendering, input helpers, limits, the Redis client and
key spelling, rate limits, text and time rules, the push of frames to users'
sockets. ``make lint`` (import-linter, pyproject.toml) keeps it that way.
"""
