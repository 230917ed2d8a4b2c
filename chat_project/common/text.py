"""Checks on text that clients send, shared by every app."""


def has_unpaired_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone UTF-16 surrogate (JSON's "\\ud800").

    Such a string cannot be encoded as UTF-8: neither the database nor the
    password hasher can take it, so it is refused as a validation error.
    """
    return any("\ud800" <= ch <= "\udfff" for ch in text)
