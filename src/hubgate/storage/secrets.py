"""Upstream secrets at rest: Fernet (AES-128-CBC + HMAC) under a key derived from `secret_key`.

`cryptography` is imported at the first seal or open, not with this module: its Rust
bindings cost each worker ~6 MB of RSS, and a gateway whose channels all come from the
config file (no stored upstream keys, no flash cookie yet) never needs them."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretsUnavailable(Exception):
    """No secret_key is configured, or it is not the one the data was sealed with."""


class SecretBox:
    def __init__(self, secret_key: str | None) -> None:
        self._key: bytes | None = None
        self._made: Fernet | None = None
        if secret_key:
            digest = hashlib.sha256(b"hubgate-secrets-v1:" + secret_key.encode()).digest()
            self._key = base64.urlsafe_b64encode(digest)

    @property
    def available(self) -> bool:
        return self._key is not None

    def _fernet(self, missing: str) -> Fernet:
        if self._key is None:
            raise SecretsUnavailable(missing)
        if self._made is None:
            from cryptography.fernet import Fernet

            self._made = Fernet(self._key)
        return self._made

    def seal(self, value: Any) -> str:
        fernet = self._fernet("set secret_key (or HUBGATE_SECRET_KEY) to store upstream keys")
        return fernet.encrypt(orjson.dumps(value)).decode()

    def open(self, token: str) -> Any:
        fernet = self._fernet("secret_key is not set; stored upstream keys cannot be read")
        from cryptography.fernet import InvalidToken

        try:
            return orjson.loads(fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsUnavailable("stored upstream keys were sealed with another secret_key") from exc
