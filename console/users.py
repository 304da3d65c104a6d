"""Console users from configuration (``CDP_CONSOLE_USERS``): username -> role, Argon2id password hash, agent queue.

Only hashes are configured (``cdp console add-user`` prints one). Verification runs Argon2 even for an unknown
username, so the response time does not tell which usernames exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from console.access import ROLES

_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters
# A hash of a random password, verified against when the username is unknown (same work as a real check).
_DUMMY_HASH = _HASHER.hash("not a password: timing equaliser")


@dataclass(frozen=True)
class ConsoleUser:
    username: str
    role: str
    password_hash: str
    queue: str | None = None  # an agent's case queue; None: every queue


class UsersConfigError(ValueError):
    """CDP_CONSOLE_USERS does not validate; the message names the user and the field."""


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a console password needs at least 8 characters")
    return _HASHER.hash(password)


def parse_users(config: Mapping[str, Mapping[str, Any]]) -> dict[str, ConsoleUser]:
    users = {}
    for username, entry in config.items():
        where = f"CDP_CONSOLE_USERS[{username!r}]"
        if not isinstance(entry, Mapping):
            raise UsersConfigError(f"{where}: expected an object with role and password_hash")
        role = entry.get("role")
        if role not in ROLES:
            raise UsersConfigError(f"{where}.role: {role!r} is not a role; roles are {', '.join(ROLES)}")
        password_hash = entry.get("password_hash")
        if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
            raise UsersConfigError(f"{where}.password_hash: not an Argon2 hash (make one with `cdp console add-user`)")
        unknown = set(entry) - {"role", "password_hash", "queue"}
        if unknown:
            raise UsersConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        users[username] = ConsoleUser(username, role, password_hash, entry.get("queue"))
    return users


def authenticate(users: Mapping[str, ConsoleUser], username: str, password: str) -> ConsoleUser | None:
    """The user when the password matches its hash, else None (unknown users cost the same Argon2 work)."""
    user = users.get(username)
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user
