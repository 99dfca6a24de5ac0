"""TOTP second factor (RFC 6238, 30 s steps, 6 digits), its set-up QR code, and one-time
recovery codes. Secrets are sealed at rest with `secret_key` like upstream keys; without a
`secret_key`, TOTP cannot be switched on.

What is sealed is {"secret": the TOTP secret, "recovery": digests of the unused recovery
codes}; a value sealed before recovery codes existed is the bare secret (none left).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import quote

import pyotp
import segno

ISSUER = "hubgate"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


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


def qr_svg(uri: str) -> str:
    """The set-up link as an inline SVG QR code (an authenticator app scans it)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#1d2433"))


def new_recovery_codes() -> list[str]:
    """Codes of 12 characters (about 58 bits each), shown once as xxxx-xxxx-xxxx."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_digest(code: str) -> str:
    """How a recovery code is kept: its SHA-256 (any case, dashes and spaces left out)."""
    plain = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(b"hubgate-recovery-v1:" + plain.encode()).hexdigest()


def sealable(secret: str, recovery: list[str]) -> dict[str, Any]:
    return {"secret": secret, "recovery": recovery}


def unseal(value: Any) -> tuple[str, list[str]]:
    """(the TOTP secret, the digests of the unused recovery codes) from what was sealed."""
    if isinstance(value, dict):
        return str(value["secret"]), [str(d) for d in value.get("recovery", [])]
    return str(value), []
