"""TOTP second factor (RFC 6238, 30 s steps, 6 digits). Secrets are sealed at rest with
`secret_key` like upstream keys; without a `secret_key`, TOTP cannot be switched on."""

from __future__ import annotations

from urllib.parse import quote

import pyotp

ISSUER = "hubgate"


def new_secret() -> str:
    return str(pyotp.random_base32())


def provisioning_uri(secret: str, email: str) -> str:
    return f"otpauth://totp/{quote(ISSUER)}:{quote(email)}?secret={secret}&issuer={quote(ISSUER)}"


def check(secret: str, code: str) -> bool:
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    return bool(pyotp.TOTP(secret).verify(code, valid_window=1))


def code_now(secret: str) -> str:
    """The current code (tests and the CLI use it)."""
    return str(pyotp.TOTP(secret).now())
