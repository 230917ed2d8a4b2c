"""Make (or find) users ``<prefix>0..<count-1>`` with API tokens; print them as one JSON line.

Run by the benchmark in the bench environment: `python -m scripts.bench.mkusers <prefix> <count>`.
Passwords are unusable (nobody logs in as these users) so nothing is hashed.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

CHUNK = 1000


def main(prefix: str, count: int) -> None:
    user_model = get_user_model()
    names = [f"{prefix}{i}" for i in range(count)]
    ids: dict[str, int] = {}
    for start in range(0, count, CHUNK):
        chunk = names[start : start + CHUNK]
        ids.update(user_model.objects.filter(username__in=chunk).values_list("username", "id"))
        missing = [user_model(username=n, nickname=n, password="!bench") for n in chunk if n not in ids]
        if missing:
            user_model.objects.bulk_create(missing)
            ids.update(user_model.objects.filter(username__in=chunk).values_list("username", "id"))
    tokens: dict[int, str] = {}
    id_list = list(ids.values())
    for start in range(0, len(id_list), CHUNK):
        id_chunk = id_list[start : start + CHUNK]
        tokens.update(Token.objects.filter(user_id__in=id_chunk).values_list("user_id", "key"))
        new_tokens = [Token(key=Token.generate_key(), user_id=uid) for uid in id_chunk if uid not in tokens]
        if new_tokens:
            Token.objects.bulk_create(new_tokens)
            tokens.update((t.user_id, t.key) for t in new_tokens)
    print(json.dumps([{"user_id": ids[n], "token": tokens[ids[n]]} for n in names]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
