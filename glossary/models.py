"""The tables of the store: terms and their labels, definitions and relations; articles, mentions,
candidates, the change log and API tokens."""

from __future__ import annotations

import datetime as dt
import html
from datetime import UTC, datetime

import nh3
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

TERM_TYPES = ("organization", "place", "policy", "event")
TERM_STATUSES = ("published", "candidate", "rejected", "merged")
LABEL_KINDS = (
    "preferred",
    "alias",
    "abbreviation",
    "former",
    "hangul",
    "hanja",
    "romanization",
    "hidden",
)
ROMANIZATIONS = ("dprk", "mr", "rr")
RELATION_KINDS = ("related", "successor", "predecessor")
CANDIDATE_STATUSES = ("pending", "accepted", "merged", "rejected")
ROLES = ("editor", "admin")


def plain_text(value: str | None) -> str | None:
    """Text with any markup removed (scripts and styles with their content), as nh3 sanitizes it:
    names, labels and definitions are plain text, whatever a client sends."""
    if not value or "<" not in value:
        return value
    return html.unescape(nh3.clean(value, tags=set(), clean_content_tags={"script", "style"}))


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Term(Base):
    __tablename__ = "term"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default="published", index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("term.id", ondelete="SET NULL"), index=True
    )
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("term.id", ondelete="SET NULL"), index=True
    )
    wikidata: Mapped[str | None] = mapped_column(String(20))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    labels: Mapped[list[Label]] = relationship(
        back_populates="term", cascade="all, delete-orphan", order_by="Label.id"
    )
    definitions: Mapped[list[Definition]] = relationship(
        back_populates="term", cascade="all, delete-orphan", order_by="Definition.id"
    )
    parent: Mapped[Term | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], back_populates="children"
    )
    children: Mapped[list[Term]] = relationship(
        foreign_keys=[parent_id], back_populates="parent", order_by="Term.name"
    )
    merged_into: Mapped[Term | None] = relationship(remote_side=[id], foreign_keys=[merged_into_id])

    __mapper_args__ = {"version_id_col": version}

    @validates("name")
    def _plain_name(self, _key: str, value: str) -> str | None:
        return plain_text(value)


class Label(Base):
    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("term_id", "text", "kind", name="uq_label_term_text_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("term.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(20))
    romanization: Mapped[str | None] = mapped_column(String(10))
    valid_from: Mapped[str | None] = mapped_column(String(10))
    valid_to: Mapped[str | None] = mapped_column(String(10))
    case_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    # The folded form, for exact lookups by any spelling.
    folded: Mapped[str] = mapped_column(String(500), index=True)

    term: Mapped[Term] = relationship(back_populates="labels")

    @validates("text")
    def _plain_text(self, _key: str, value: str) -> str | None:
        return plain_text(value)


class Definition(Base):
    __tablename__ = "definition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("term.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(1000))
    author: Mapped[str | None] = mapped_column(String(200))
    as_of: Mapped[int | None] = mapped_column(Integer)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    term: Mapped[Term] = relationship(back_populates="definitions")

    @validates("text", "source")
    def _plain_text(self, _key: str, value: str | None) -> str | None:
        return plain_text(value)


class Relation(Base):
    __tablename__ = "relation"
    __table_args__ = (
        UniqueConstraint("term_id", "kind", "target_id", name="uq_relation_term_kind_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("term.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(ForeignKey("term.id", ondelete="CASCADE"), index=True)
    date: Mapped[str | None] = mapped_column(String(10))

    target: Mapped[Term] = relationship(foreign_keys=[target_id])


class Article(Base):
    __tablename__ = "article"
    # Citing articles newest first read each date from this index, not from the row with the text.
    __table_args__ = (Index("ix_article_id_published", "id", "published"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The article's identity: "id:<source id>", "url:<url>" or "sha:<hash of normalized text>".
    identity: Mapped[str] = mapped_column(String(600), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(1000))
    source: Mapped[str | None] = mapped_column(String(200), index=True)
    published: Mapped[dt.date | None] = mapped_column(Date, index=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    mentions: Mapped[list[Mention]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Mention.start"
    )


class Candidate(Base):
    __tablename__ = "candidate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float, default=0.5)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[dt.date | None] = mapped_column(Date)
    last_seen: Mapped[dt.date | None] = mapped_column(Date)
    draft_definition: Mapped[str | None] = mapped_column(Text)
    term_id: Mapped[int | None] = mapped_column(ForeignKey("term.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Mention(Base):
    __tablename__ = "mention"
    __table_args__ = (
        Index("ix_mention_term_article", "term_id", "article_id"),
        Index("ix_mention_candidate", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    term_id: Mapped[int | None] = mapped_column(ForeignKey("term.id", ondelete="CASCADE"))
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidate.id", ondelete="CASCADE"))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    surface: Mapped[str] = mapped_column(String(500))
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    nested: Mapped[bool] = mapped_column(Boolean, default=False)

    article: Mapped[Article] = relationship(back_populates="mentions")
    term: Mapped[Term | None] = relationship()
    candidate: Mapped[Candidate | None] = relationship()


class Change(Base):
    __tablename__ = "change"
    __table_args__ = (Index("ix_change_entity_seq", "entity", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(20))
    # What a person would read in "recent changes": the slug or title and who made it.
    summary: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Token(Base):
    __tablename__ = "token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
