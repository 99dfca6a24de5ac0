"""Upstream secrets at rest: Fernet (AES-128-CBC + HMAC) under a key derived from `secret_key`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken


class SecretsUnavailable(Exception):
    """No secret_key is configured, or it is not the one the data was sealed with."""


class SecretBox:
    def __init__(self, secret_key: str | None) -> None:
        self._fernet: Fernet | None = None
        if secret_key:
            digest = hashlib.sha256(b"hubgate-secrets-v1:" + secret_key.encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    @property
    def available(self) -> bool:
        return self._fernet is not None

    def seal(self, value: Any) -> str:
        if self._fernet is None:
            raise SecretsUnavailable("set secret_key (or HUBGATE_SECRET_KEY) to store upstream keys")
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def open(self, token: str) -> Any:
        if self._fernet is None:
            raise SecretsUnavailable("secret_key is not set; stored upstream keys cannot be read")
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsUnavailable("stored upstream keys were sealed with another secret_key") from exc
