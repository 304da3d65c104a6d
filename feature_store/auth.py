"""API keys with scopes. Only SHA-256 digests of keys are configured (``CDP_API_KEYS``), so no key is on disk.

Scopes: ``profiles:read`` (profiles and lookups), ``features:read`` (feature services), ``pii:read`` (names, emails,
phones and addresses in profiles, and any feature service with a PII view).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

SCOPES = ("profiles:read", "features:read", "pii:read")
KEY_PREFIX = "cdp_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    return sorted(set(scopes))


class ApiKeys:
    def __init__(self, digests: Mapping[str, Sequence[str]]) -> None:
        self._keys = {d.lower(): frozenset(validate_scopes(s)) for d, s in digests.items()}

    def __bool__(self) -> bool:
        return bool(self._keys)

    def scopes(self, key: str) -> frozenset[str] | None:
        """The key's scopes, or None for an unknown key (compared in constant time against every digest)."""
        presented = digest(key)
        found = None
        for known, scopes in self._keys.items():
            if hmac.compare_digest(presented, known):
                found = scopes
        return found
