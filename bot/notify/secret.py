"""A notification URL is a secret (it holds passwords and webhook tokens): how it is stored.

With `notify.key` (TGMON_NOTIFY_KEY) set, the URL is encrypted with Fernet (AES-128-CBC and an
HMAC-SHA256, from `cryptography`) under a key derived from that passphrase: "fernet:<token>".
Without it the URL is stored as typed: "plain:<url>" (docs/notifications.md says so).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

_FERNET = "fernet:"
_PLAIN = "plain:"


class SealError(Exception):
    """A stored URL cannot be read back (no key, or another key). The message holds no secret."""


def _fernet(key: SecretStr) -> Fernet:
    # a passphrase of any length -> the 32 bytes Fernet wants (the passphrase itself is the secret)
    digest = hashlib.sha256(b"tgmon-notify:" + key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(url: str, key: SecretStr | None) -> str:
    if key is None or not key.get_secret_value():
        return _PLAIN + url
    return _FERNET + _fernet(key).encrypt(url.encode()).decode()


def unseal(stored: str, key: SecretStr | None) -> str:
    if stored.startswith(_PLAIN):
        return stored[len(_PLAIN):]
    if stored.startswith(_FERNET):
        if key is None or not key.get_secret_value():
            raise SealError("this notification URL was stored encrypted and TGMON_NOTIFY_KEY is not set")
        try:
            return _fernet(key).decrypt(stored[len(_FERNET):].encode()).decode()
        except InvalidToken:
            raise SealError("this notification URL was encrypted with another TGMON_NOTIFY_KEY") from None
    raise SealError("this notification URL is stored in an unknown form")


def is_sealed(stored: str) -> bool:
    return stored.startswith(_FERNET)
