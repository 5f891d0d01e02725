"""The provider's password hasher: PBKDF2 with fewer rounds than Django's default, because
its accounts are synthetic test logins and the sign-in round trip is benchmarked. Never used
by the app, whose staff passwords are hashed with Argon2."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class DemoPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256_demo"
    iterations = 20_000
