"""Settings for `make lint`'s migration check: the project's settings with no database.

`makemigrations --check` only compares the models with the migration files;
with a real database it also checks the applied history, and warns when the
database does not exist yet (before the first `make run`). The dummy engine
makes Django skip that check, so a clean lint prints nothing but its result.
"""

from .settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.dummy"}}
