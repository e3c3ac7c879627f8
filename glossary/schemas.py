"""Marshmallow schemas: the one boundary for data entering or leaving the service (import files,
API bodies and query arguments)."""

from __future__ import annotations

from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from glossary.models import LABEL_KINDS, RELATION_KINDS, ROMANIZATIONS, TERM_STATUSES, TERM_TYPES

SLUG = validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Not a valid slug.")
# A date or a bare year: "2020", "2020-06", "2020-06-30".
PARTIAL_DATE = validate.Regexp(
    r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$", error="Not a date (YYYY[-MM[-DD]])."
)


def _text(max_len: int, **kwargs) -> fields.String:
    """A non-blank string of at most max_len characters."""
    return fields.String(validate=validate.Length(min=1, max=max_len), **kwargs)


class LabelSchema(Schema):
    text = _text(500, required=True)
    kind = fields.String(load_default="alias", validate=validate.OneOf(LABEL_KINDS))
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=20))
    romanization = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(ROMANIZATIONS)
    )
    valid_from = fields.String(load_default=None, allow_none=True, validate=PARTIAL_DATE)
    valid_to = fields.String(load_default=None, allow_none=True, validate=PARTIAL_DATE)
    case_sensitive = fields.Boolean(load_default=False)
    ambiguous = fields.Boolean(load_default=False)

    @validates_schema
    def _text_is_not_blank(self, data: dict, **_kwargs) -> None:
        if not data.get("text", "x").strip():
            raise ValidationError("A label cannot be blank.", "text")


class DefinitionSchema(Schema):
    text = _text(5000, required=True)
    source = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    author = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    as_of = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1000, max=2999)
    )


class RelationSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RELATION_KINDS))
    target = fields.String(required=True, validate=SLUG)
    date = fields.String(load_default=None, allow_none=True, validate=PARTIAL_DATE)


class TermFileSchema(Schema):
    """One term as it stands in a JSON Lines glossary file (import and export)."""

    slug = fields.String(required=True, validate=[validate.Length(max=200), SLUG])
    name = _text(500, required=True)
    type = fields.String(required=True, validate=validate.OneOf(TERM_TYPES))
    status = fields.String(load_default="published", validate=validate.OneOf(TERM_STATUSES))
    parent = fields.String(load_default=None, allow_none=True, validate=SLUG)
    merged_into = fields.String(load_default=None, allow_none=True, validate=SLUG)
    wikidata = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^Q\d+$")
    )
    latitude = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=-90, max=90)
    )
    longitude = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=-180, max=180)
    )
    labels = fields.List(fields.Nested(LabelSchema), load_default=list)
    definitions = fields.List(fields.Nested(DefinitionSchema), load_default=list)
    relations = fields.List(fields.Nested(RelationSchema), load_default=list)

    @validates_schema
    def _no_self_reference(self, data: dict, **_kwargs) -> None:
        slug = data.get("slug")
        if slug and data.get("parent") == slug:
            raise ValidationError("A term cannot be its own parent.", "parent")
        if slug and any(r["target"] == slug for r in data.get("relations", [])):
            raise ValidationError("A term cannot relate to itself.", "relations")


term_file_schema = TermFileSchema()


def replace_lone_surrogates(value: object) -> object:
    """The same data with every lone UTF-16 surrogate (from a "\\ud800" escape in JSON, which no
    store can encode) replaced by U+FFFD, and NUL characters (which PostgreSQL text cannot hold)
    removed."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    return value


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that request bodies never carry lone surrogates into the app."""

    def loads(self, s: str | bytes, **kwargs) -> object:
        return replace_lone_surrogates(super().loads(s, **kwargs))
