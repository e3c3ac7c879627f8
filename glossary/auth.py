"""API tokens: created once and shown once, stored only as a SHA-256 digest, checked in
constant time, each with a role (editor or admin)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from glossary.models import ROLES, Token, utcnow

PREFIX = "glos_"
RANK = {"editor": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is making a request."""

    token_id: int
    name: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this principal has at least `role`."""
        return RANK[self.role] >= RANK[role]


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, name: str, role: str) -> tuple[Token, str]:
    """A new token; the plain text is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    plain = PREFIX + secrets.token_urlsafe(32)
    token = Token(name=name, role=role, digest=digest(plain))
    session.add(token)
    session.flush()
    return token, plain


def verify_token(session: Session, plain: str) -> Principal | None:
    """The principal of a valid, unrevoked token, else None."""
    if not plain or len(plain) > 200:
        return None
    wanted = digest(plain)
    token = session.scalar(select(Token).where(Token.digest == wanted))
    # The lookup is by digest; compare again in constant time so a near-miss cannot be timed.
    if (
        token is None
        or token.revoked_at is not None
        or not hmac.compare_digest(token.digest, wanted)
    ):
        return None
    return Principal(token.id, token.name, token.role)


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token; returns False when there is no such active token."""
    token = session.get(Token, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    return True
