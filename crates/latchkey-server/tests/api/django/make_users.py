"""Makes a Django project's users the way Django does, one per password
hasher, for `latchkey import-django` to bring over. Run in a venv with
django[argon2,bcrypt] (and psycopg for PostgreSQL):

    python make_users.py DATABASE_URL PASSWORD

DATABASE_URL is sqlite:////abs/path.sqlite3 or postgres://user@host:port/name.
Prints one line per user: username and the hasher its password uses.
"""

import os
import sys
import urllib.parse

import django
from django.conf import settings

db_url, password = sys.argv[1], sys.argv[2]
if db_url.startswith("sqlite://"):
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": db_url[len("sqlite://"):]}
else:
    u = urllib.parse.urlparse(db_url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": u.username or "",
        "PASSWORD": u.password or "",
        "HOST": u.hostname,
        "PORT": u.port or 5432,
    }

HASHERS = {
    "pbkdf2_sha256": "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "pbkdf2_sha1": "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "argon2": "django.contrib.auth.hashers.Argon2PasswordHasher",
    "bcrypt_sha256": "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "bcrypt": "django.contrib.auth.hashers.BCryptPasswordHasher",
    "scrypt": "django.contrib.auth.hashers.ScryptPasswordHasher",
}

settings.configure(
    DATABASES={"default": database},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    PASSWORD_HASHERS=list(HASHERS.values()),
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

# Each hasher in turn, as a project that changed PASSWORD_HASHERS over the years has them.
for name, path in HASHERS.items():
    with override_settings(PASSWORD_HASHERS=[path]):
        User.objects.create_user(f"user_{name}", f"{name}@Example.com", password, first_name="First", last_name=name)

# The superuser from the command line, with the project's default hasher.
os.environ["DJANGO_SUPERUSER_PASSWORD"] = password
call_command("createsuperuser", interactive=False, username="boss", email="boss@example.com", verbosity=0)

# No usable password, an inactive account, staff who signed in lately.
User.objects.create_user("nopassword", "np@example.com", None)
gone = User.objects.create_user("gone", "gone@example.com", password)
gone.is_active = False
gone.save()
staff = User.objects.create_user("reviewer", "reviewer@example.com", password, is_staff=True, first_name="Rita")
staff.last_login = timezone.now()
staff.save()

for user in User.objects.order_by("id"):
    hasher = "unusable" if user.password.startswith("!") else user.password.split("$")[0]
    print(user.username, hasher)
