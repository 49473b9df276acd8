"""Local users with roles, their passwords and personal tokens, and the actor every change is attributed to.

Whoever can read the node's home directory controls the node anyway (the key and the database are
there), so the CLI acts as the built-in administrator `ADMIN` unless a local user is named; a named
user must prove who they are with their password or a personal token. Automatic work (delivery,
receiving) is attributed to the built-in `NODE`.

The built-in actors are nobody in particular, so they never release a share (`require("release")`
refuses them), and with four-eyes release they may not request one either (`require_person`): that
takes a named, authenticated user.

Passwords are stored as scrypt hashes (`scrypt$N$r$p$<salt b64>$<hash b64>`), tokens as their
SHA-256 only; a token is shown once, when it is issued, and only to its own user. An administrator
may reset (revoke) a user's token but never sees a new one. All comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.store import now_text, rows, write

ROLES = ("officer", "approver", "admin")

# capability -> (roles that have it, what it allows, the role the refusal names)
CAPABILITIES: dict[str, tuple[frozenset[str], str, str]] = {
    "author": (frozenset(ROLES), "create, edit or share records and send alerts", "officer"),
    "release": (frozenset({"approver", "admin"}), "release shares", "approver"),
    "manage_users": (frozenset({"admin"}), "manage users", "admin"),
}
PERSONAL = frozenset({"release"})  # capabilities no built-in actor has, whatever its role

NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
TOKEN_PREFIX = "pvt_"  # noqa: S105 (a prefix, not a secret)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16

WRONG_PASSWORD = "unknown user or wrong password"  # noqa: S105 (a message)
WRONG_TOKEN = "unknown user or wrong token"  # noqa: S105 (a message)


@dataclass(frozen=True)
class Actor:
    """Who does something: a local user, or one of the node's built-in actors."""

    name: str
    role: str
    builtin: bool = False

    def may(self, capability: str) -> bool:
        """Whether this actor may do `capability` ("author", "release" or "manage_users"): its role grants it,
        and a built-in actor never releases."""
        try:
            roles = CAPABILITIES[capability][0]
        except KeyError:
            raise ValueError(f"unknown capability {capability!r}") from None
        return self.role in roles and not (self.builtin and capability in PERSONAL)

    def require(self, capability: str) -> None:
        """Raise NodeError naming this actor, its role and what it lacks, unless it may do `capability`."""
        if self.builtin and capability in PERSONAL:
            self.require_person(CAPABILITIES[capability][1])
        if not self.may(capability):
            _, what, needed = CAPABILITIES[capability]
            raise NodeError(f"user {self.name!r} ({self.role}) may not {what}; that needs the {needed} role")

    def require_person(self, what: str) -> None:
        """Raise NodeError if this is a built-in actor: `what` takes a named user who proved who they are."""
        if self.builtin:
            raise NodeError(
                f"the node's built-in {self.name} may not {what}: with four-eyes release that is a decision of a "
                "named person; act as a named user with --user NAME (asks for that user's password)"
            )


ADMIN = Actor("admin", "admin", builtin=True)
NODE = Actor("node", "admin", builtin=True)
BUILTIN_NAMES = frozenset({ADMIN.name, NODE.name})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A new scrypt hash of `password` with a random salt, in the stored text form."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (constant-time comparison; False if malformed)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16 and salt and expected):
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * 1024 * 1024
    )
    return hmac.compare_digest(digest, expected)


def token_hash(token: str) -> str:
    """The SHA-256 of a token, hex, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the user does not exist, so that a wrong name costs as much as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def _check_name(name: str) -> str:
    if name in BUILTIN_NAMES:
        raise NodeError(f"{name!r} is reserved for the node's built-in {name}; choose another user name")
    if not NAME_RE.fullmatch(name):
        raise NodeError(
            f"{name!r} is not a valid user name: 2 to 32 characters, a lowercase letter first, "
            "then lowercase letters, digits, '.', '_' or '-'"
        )
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise NodeError(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise NodeError(f"the password must be at most {MAX_PASSWORD} characters long")
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise NodeError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "role": row["role"],
        "created": row["created"],
        "disabled": bool(row["disabled"]),
        "has_token": row["token_hash"] is not None,
        "language": row.get("language"),
    }


def _get_row(node: Node, name: str) -> dict[str, Any] | None:
    found = rows(node.db, "SELECT * FROM users WHERE name = ?", (name,))
    return found[0] if found else None


def get_user(node: Node, name: str) -> dict[str, Any]:
    """One user as `list_users` shows it; NotFound if there is no such user."""
    row = _get_row(node, name)
    if row is None:
        raise NotFound(f"no user {name!r}; see `praevnet users list`")
    return _public(row)


def add_user(node: Node, name: str, role: str, password: str, *, by: Actor) -> dict[str, Any]:
    """Create a local user with `role` and `password`; `by` must be allowed to manage users."""
    by.require("manage_users")
    _check_name(name)
    _check_role(role)
    _check_password(password)
    stored = hash_password(password)
    with write(node.db) as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None:
            raise NodeError(f"user {name!r} already exists")
        conn.execute(
            "INSERT INTO users (name, role, password, token_hash, created, disabled) VALUES (?, ?, ?, NULL, ?, 0)",
            (name, role, stored, now_text()),
        )
        audit.append(conn, user=by.name, action="user.add", detail=f"{name} ({role})")
    return get_user(node, name)


def list_users(node: Node) -> list[dict[str, Any]]:
    """Every local user: name, role, created, disabled, has_token; never a hash."""
    return [_public(row) for row in rows(node.db, "SELECT * FROM users ORDER BY name")]


def disable_user(node: Node, name: str, *, by: Actor) -> None:
    """Disable a user for good: no more logins, and their token stops working. `by` must manage users."""
    by.require("manage_users")
    with write(node.db) as conn:
        row = conn.execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user {name!r}; see `praevnet users list`")
        if row[0]:
            raise NodeError(f"user {name!r} is already disabled")
        conn.execute("UPDATE users SET disabled = 1, token_hash = NULL WHERE name = ?", (name,))
        audit.append(conn, user=by.name, action="user.disable", detail=name)


def issue_token(node: Node, name: str, *, by: Actor) -> str:
    """Issue a new personal token for `name`, replacing any earlier one, and return it (shown once).

    Only `name` themself may (`by` is that user, logged in with their password or current token), so
    nobody else ever sees the token; an administrator may only reset it (`reset_token`). Only the
    token's SHA-256 is stored.
    """
    if by.builtin or by.name != name:
        raise NodeError(
            f"{by.name!r} may not get a token for {name!r}; a token is shown only to its own user: "
            f"`praevnet users token --user {name}` asks {name}'s password (an admin may reset it with "
            f"`praevnet users reset-token {name}`)"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write(node.db) as conn:
        row = conn.execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user {name!r}; see `praevnet users list`")
        if row[0]:
            raise NodeError(f"user {name!r} is disabled")
        conn.execute("UPDATE users SET token_hash = ? WHERE name = ?", (token_hash(token), name))
        audit.append(conn, user=by.name, action="user.token", detail=name)
    return token


def reset_token(node: Node, name: str, *, by: Actor) -> None:
    """Revoke `name`'s personal token at once (audited as `user.token.reset`); no new one is made.

    `by` must manage users. The user gets a new token by logging in with their password (`issue_token`),
    so the administrator who resets it never sees one.
    """
    by.require("manage_users")
    with write(node.db) as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
            raise NotFound(f"no user {name!r}; see `praevnet users list`")
        conn.execute("UPDATE users SET token_hash = NULL WHERE name = ?", (name,))
        audit.append(conn, user=by.name, action="user.token.reset", detail=name)


def set_password(node: Node, name: str, password: str, *, by: Actor) -> None:
    """Give `name` a new password; only the user themselves or someone who may manage users may."""
    if by.name != name or by.builtin:
        by.require("manage_users")
    _check_password(password)
    stored = hash_password(password)
    with write(node.db) as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
            raise NotFound(f"no user {name!r}; see `praevnet users list`")
        conn.execute("UPDATE users SET password = ? WHERE name = ?", (stored, name))
        audit.append(conn, user=by.name, action="user.password", detail=name)


LANGUAGES = ("de", "en")


def set_language(node: Node, name: str, language: str) -> None:
    """Remember the interface language `name` chose ("de" or "en")."""
    if language not in LANGUAGES:
        raise NodeError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    with write(node.db) as conn:
        conn.execute("UPDATE users SET language = ? WHERE name = ?", (language, name))


def _actor(row: dict[str, Any]) -> Actor:
    if row["disabled"]:
        raise NodeError(f"user {row['name']!r} is disabled")
    return Actor(row["name"], row["role"])


def login_password(node: Node, name: str, password: str) -> Actor:
    """The actor for `name` if `password` is theirs; the same NodeError for an unknown user or a wrong password."""
    row = _get_row(node, name)
    matches = verify_password(password, row["password"] if row is not None else _dummy_hash())
    if row is None or not matches:
        raise NodeError(WRONG_PASSWORD)
    return _actor(row)


def login_token(node: Node, name: str, token: str) -> Actor:
    """The actor for `name` if `token` is their current personal token (constant-time comparison)."""
    row = _get_row(node, name)
    stored = row["token_hash"] if row is not None else None
    given = token_hash(token)
    matches = hmac.compare_digest(given, stored if stored is not None else token_hash(secrets.token_urlsafe(32)))
    if row is None or stored is None or not matches:
        raise NodeError(WRONG_TOKEN)
    return _actor(row)
