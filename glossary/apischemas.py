"""Marshmallow schemas of the JSON API: query arguments with defaults and ranges, request bodies,
and every response shape (the OpenAPI document is generated from them)."""

from __future__ import annotations

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from glossary.models import (
    CANDIDATE_STATUSES,
    LABEL_KINDS,
    ROMANIZATIONS,
    TERM_STATUSES,
    TERM_TYPES,
)
from glossary.schemas import PARTIAL_DATE, SLUG, DefinitionSchema, LabelSchema, RelationSchema

MAX_PAGE = 10_000
LOOKUP_TIERS = ("exact", "exact_alias", "case_insensitive", "normalized", "variant", "fuzzy")
EXPORT_FORMATS = ("jsonl", "csv", "skos", "turtle", "jsonld")
WIKIDATA = validate.Regexp(r"^Q[1-9]\d{0,11}$", error="Not a Wikidata id (Q123).")
NOT_BLANK = validate.Regexp(r"^\s*\S", error="Cannot be blank.")
LANGUAGE_TAG = validate.Regexp(
    r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", error="Not a language tag (en, ko, ko-Latn)."
)


def _str(max_len: int, **kwargs) -> fields.String:
    """A string of 1 to max_len characters, not all of them spaces."""
    return fields.String(validate=[validate.Length(min=1, max=max_len), NOT_BLANK], **kwargs)


def _opt(field: fields.Field) -> fields.Field:
    """A response field that may be null."""
    field.allow_none = True
    return field


class StrictSchema(Schema):
    """Unknown fields in a request are an error (422), not silently dropped."""

    class Meta:
        unknown = RAISE


class QuerySchema(Schema):
    """Query arguments: unknown ones are ignored (caches and trackers add their own)."""

    class Meta:
        unknown = EXCLUDE


# --- query arguments --------------------------------------------------------------------------


class PageArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class SearchArgs(PageArgs):
    q = fields.String(load_default="", validate=validate.Length(max=500))
    type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))


class SuggestArgs(QuerySchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class TermListArgs(PageArgs):
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))
    parent = fields.String(load_default=None, validate=[validate.Length(max=200), SLUG])
    letter = fields.String(
        load_default=None, validate=validate.Regexp(r"^[a-z#]$", error="One letter a-z or #.")
    )
    status = fields.String(load_default="published", validate=validate.OneOf(TERM_STATUSES))


class ArticleListArgs(PageArgs):
    source = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    term = fields.String(load_default=None, validate=[validate.Length(max=200), SLUG])


class ArticleSearchArgs(PageArgs):
    q = fields.String(load_default="", validate=validate.Length(max=500))
    terms = fields.List(
        fields.String(validate=[validate.Length(max=200), SLUG]),
        load_default=list,
        validate=validate.Length(max=10),
    )
    term_type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))
    source = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)
    sort = fields.String(load_default="relevance", validate=validate.OneOf(("relevance", "date")))


class CandidateArgs(PageArgs):
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    status = fields.String(load_default="pending", validate=validate.OneOf(CANDIDATE_STATUSES))
    type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))


class ChangesArgs(QuerySchema):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class LookupArgs(QuerySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    type = fields.List(fields.String(validate=validate.OneOf(TERM_TYPES)), load_default=list)
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=20))


class ExportArgs(QuerySchema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(EXPORT_FORMATS))
    status = fields.String(load_default=None, validate=validate.OneOf(TERM_STATUSES))


# --- request bodies ---------------------------------------------------------------------------


class LookupBody(StrictSchema):
    names = fields.List(
        fields.String(validate=validate.Length(min=1, max=500)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )
    type = fields.List(fields.String(validate=validate.OneOf(TERM_TYPES)), load_default=list)
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=20))


class AnnotateBody(StrictSchema):
    text = fields.String(load_default=None)
    article = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    date = fields.String(load_default=None, validate=PARTIAL_DATE)
    types = fields.List(fields.String(validate=validate.OneOf(TERM_TYPES)), load_default=None)
    nested = fields.Boolean(load_default=False)
    candidates = fields.Boolean(load_default=False)
    include = fields.List(
        fields.String(validate=validate.OneOf(("definitions",))), load_default=list
    )

    @validates_schema
    def _one_source(self, data: dict, **_kwargs) -> None:
        if (data.get("text") is None) == (data.get("article") is None):
            raise ValidationError("Send either text or article.", "text")


class LabelCreate(LabelSchema):
    text = _str(500, required=True)
    language = fields.String(
        load_default=None, allow_none=True, validate=[validate.Length(max=20), LANGUAGE_TAG]
    )

    class Meta:
        unknown = RAISE


class TermCreate(StrictSchema):
    name = _str(500, required=True)
    slug = fields.String(load_default=None, validate=[validate.Length(max=200), SLUG])
    type = fields.String(required=True, validate=validate.OneOf(TERM_TYPES))
    parent = fields.String(load_default=None, allow_none=True, validate=SLUG)
    wikidata = fields.String(load_default=None, allow_none=True, validate=WIKIDATA)
    latitude = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=-90, max=90)
    )
    longitude = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=-180, max=180)
    )
    labels = fields.List(fields.Nested(LabelCreate), load_default=list)
    definitions = fields.List(fields.Nested(DefinitionSchema), load_default=list)
    relations = fields.List(fields.Nested(RelationSchema), load_default=list)

    @validates_schema
    def _text_not_blank(self, data: dict, **_kwargs) -> None:
        if not data.get("name", "x").strip():
            raise ValidationError("A name cannot be blank.", "name")


class TermUpdate(StrictSchema):
    name = _str(500)
    type = fields.String(validate=validate.OneOf(TERM_TYPES))
    parent = fields.String(allow_none=True, validate=SLUG)
    wikidata = fields.String(allow_none=True, validate=WIKIDATA)
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))


class LabelUpdate(StrictSchema):
    text = _str(500)
    kind = fields.String(validate=validate.OneOf(LABEL_KINDS))
    language = fields.String(allow_none=True, validate=[validate.Length(max=20), LANGUAGE_TAG])
    romanization = fields.String(allow_none=True, validate=validate.OneOf(ROMANIZATIONS))
    valid_from = fields.String(allow_none=True, validate=PARTIAL_DATE)
    valid_to = fields.String(allow_none=True, validate=PARTIAL_DATE)
    case_sensitive = fields.Boolean()
    ambiguous = fields.Boolean()


class DefinitionCreate(DefinitionSchema):
    text = _str(5000, required=True)
    primary = fields.Boolean(load_default=False)

    class Meta:
        unknown = RAISE

    @validates_schema
    def _text_not_blank(self, data: dict, **_kwargs) -> None:
        if not data.get("text", "x").strip():
            raise ValidationError("A definition cannot be blank.", "text")


class DefinitionUpdate(StrictSchema):
    text = _str(5000)
    source = fields.String(allow_none=True, validate=validate.Length(max=1000))
    author = fields.String(allow_none=True, validate=validate.Length(max=200))
    as_of = fields.Integer(allow_none=True, validate=validate.Range(min=1000, max=2999))
    primary = fields.Boolean()


class RelationCreate(RelationSchema):
    class Meta:
        unknown = RAISE


class MergeBody(StrictSchema):
    into = fields.String(required=True, validate=[validate.Length(max=200), SLUG])


class CandidateAccept(StrictSchema):
    name = _str(500, load_default=None)
    slug = fields.String(load_default=None, validate=[validate.Length(max=200), SLUG])
    type = fields.String(load_default=None, validate=validate.OneOf(TERM_TYPES))
    parent = fields.String(load_default=None, validate=[validate.Length(max=200), SLUG])
    definition = fields.String(load_default=None, validate=validate.Length(min=1, max=5000))
    labels = fields.List(fields.Nested(LabelCreate), load_default=list)


class CandidateMerge(StrictSchema):
    term = fields.String(required=True, validate=[validate.Length(max=200), SLUG])
    kind = fields.String(
        load_default="alias", validate=validate.OneOf([k for k in LABEL_KINDS if k != "preferred"])
    )


class ArticleCreate(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=2**20))
    title = fields.String(load_default=None, validate=validate.Length(max=1000))
    url = fields.Url(load_default=None, schemes={"http", "https"})
    source = fields.String(load_default=None, validate=validate.Length(max=200))
    published = fields.Date(load_default=None)
    external_id = fields.String(load_default=None, validate=validate.Length(max=500))
    language = fields.String(load_default=None, validate=validate.Length(max=35))


class ArticleUpload(Schema):
    """The multipart form of POST /api/articles (documentation of the upload)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


# --- responses --------------------------------------------------------------------------------


class ProblemSchema(Schema):
    """The one error body (RFC 9457 problem details)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Field errors (422)."})


class TermRef(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)


class RelatedTerm(TermRef):
    date = _opt(fields.String())
    relation_id = fields.Integer()


class LabelOut(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    kind = fields.String(required=True)
    language = _opt(fields.String())
    romanization = _opt(fields.String())
    valid_from = _opt(fields.String())
    valid_to = _opt(fields.String())
    case_sensitive = fields.Boolean()
    ambiguous = fields.Boolean()


class DefinitionOut(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    source = _opt(fields.String())
    author = _opt(fields.String())
    as_of = _opt(fields.Integer())
    primary = fields.Boolean()
    created_at = _opt(fields.DateTime())


class MentionStats(Schema):
    count = fields.Integer(required=True)
    articles = fields.Integer(required=True)
    first_seen = _opt(fields.Date())
    last_seen = _opt(fields.Date())


class TermDetail(Schema):
    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True)
    wikidata = _opt(fields.String())
    latitude = _opt(fields.Float())
    longitude = _opt(fields.Float())
    created_at = _opt(fields.DateTime())
    updated_at = _opt(fields.DateTime())
    definition = _opt(fields.String())
    labels = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(LabelOut)))
    definitions = fields.List(fields.Nested(DefinitionOut))
    parent = _opt(fields.Nested(TermRef))
    ancestors = fields.List(fields.Nested(TermRef))
    children = fields.List(fields.Nested(TermRef))
    related = fields.List(fields.Nested(RelatedTerm))
    predecessors = fields.List(fields.Nested(RelatedTerm))
    successors = fields.List(fields.Nested(RelatedTerm))
    merged_from = fields.List(fields.String())
    mentions = fields.Nested(MentionStats)


class Pagination(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    next = _opt(fields.String())
    prev = _opt(fields.String())


def page_of(item: type[Schema], name: str, **extra: fields.Field) -> type[Schema]:
    """A paginated response schema: items of `item`, and the pagination fields."""
    attrs = {"items": fields.List(fields.Nested(item), required=True), **extra}
    return type(name, (Pagination,), attrs)


class TermListItem(TermRef):
    status = fields.String()
    parent = _opt(fields.String())
    definition = _opt(fields.String())
    mention_count = fields.Integer()


class SearchHit(TermRef):
    score = fields.Float()
    matched_label = _opt(fields.String())
    label_kind = _opt(fields.String())
    label_note = _opt(fields.String())
    snippet_html = fields.String()
    mention_count = fields.Integer()
    hangul = _opt(fields.String())


class SuggestionOut(TermRef):
    label = fields.String()
    label_kind = fields.String()


class SuggestResponse(Schema):
    items = fields.List(fields.Nested(SuggestionOut), required=True)


class MentionContext(Schema):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    surface = fields.String(required=True)
    sentence = fields.String(required=True)
    sentence_start = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    length = fields.Integer(required=True)


class ArticleRef(Schema):
    id = fields.Integer(required=True)
    title = _opt(fields.String())
    url = _opt(fields.String())
    source = _opt(fields.String())
    published = _opt(fields.Date())


class CitingArticle(ArticleRef):
    mentions = fields.List(fields.Nested(MentionContext))


class ArticleListItem(ArticleRef):
    mention_count = fields.Integer()


class ArticleMention(Schema):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    surface = fields.String(required=True)
    term = _opt(fields.String())
    name = _opt(fields.String())
    type = _opt(fields.String())
    candidate = _opt(fields.Integer())
    ambiguous = fields.Boolean()
    nested = fields.Boolean()


class ArticleDetail(ArticleRef):
    external_id = _opt(fields.String())
    language = _opt(fields.String())
    ingested_at = _opt(fields.DateTime())
    updated_at = _opt(fields.DateTime())
    text = fields.String(required=True)
    mentions = fields.List(fields.Nested(ArticleMention))


class ArticleStored(Schema):
    status = fields.String(required=True, metadata={"description": "new, updated or unchanged"})
    article = fields.Nested(ArticleDetail, required=True)


class ArticleSearchHit(Schema):
    id = fields.Integer(required=True)
    title = _opt(fields.String())
    source = _opt(fields.String())
    published = _opt(fields.String())
    score = fields.Float()
    snippet_html = fields.String()


class CandidateContext(MentionContext):
    article = fields.Integer(required=True)
    title = _opt(fields.String())


class CandidateOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True)
    confidence = fields.Float()
    count = fields.Integer()
    first_seen = _opt(fields.Date())
    last_seen = _opt(fields.Date())
    draft_definition = _opt(fields.String())
    term = _opt(fields.String())
    contexts = fields.List(fields.Nested(CandidateContext))


class CandidateDecision(Schema):
    candidate = fields.Nested(CandidateOut, required=True)
    term = _opt(fields.String())


class ChangeOut(Schema):
    seq = fields.Integer(required=True)
    entity = fields.String(required=True)
    id = fields.Integer(required=True)
    op = fields.String(required=True)
    summary = _opt(fields.String())
    actor = _opt(fields.String())
    at = fields.DateTime()


class ChangeFeed(Schema):
    items = fields.List(fields.Nested(ChangeOut), required=True)
    since = fields.Integer(required=True)
    next = fields.Integer(required=True, metadata={"description": "Ask with since=next."})
    more = fields.Boolean(required=True)
    next_url = _opt(fields.String())


class LookupTerm(TermRef):
    definition = _opt(fields.String())
    wikidata = _opt(fields.String())


class LookupHit(Schema):
    term = fields.Nested(LookupTerm, required=True)
    score = fields.Integer(required=True)
    match = fields.String(required=True, validate=validate.OneOf(LOOKUP_TIERS))
    label = fields.String(required=True)
    label_kind = fields.String(required=True)
    ambiguous = fields.Boolean(required=True)


class LookupResult(Schema):
    name = fields.String(required=True)
    term = _opt(fields.Nested(LookupTerm))
    score = fields.Integer(required=True)
    match = _opt(fields.String(validate=validate.OneOf(LOOKUP_TIERS)))
    label = _opt(fields.String())
    label_kind = _opt(fields.String())
    ambiguous = fields.Boolean(required=True)
    alternatives = fields.List(fields.Nested(LookupHit), required=True)


class LookupResponse(Schema):
    results = fields.List(fields.Nested(LookupResult), required=True)


class AnnotateSpan(Schema):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    surface = fields.String(required=True)
    term = _opt(fields.String())
    type = fields.String(required=True)
    candidate = fields.Boolean(required=True)
    ambiguous = fields.Boolean(required=True)
    alternatives = fields.List(fields.String())
    nested = fields.Boolean(required=True)
    definition = _opt(fields.String())


class AnnotateResponse(Schema):
    article = _opt(fields.Integer())
    length = fields.Integer(required=True)
    spans = fields.List(fields.Nested(AnnotateSpan), required=True)


class TermWritten(Schema):
    """What a term write answers: the term as it is now."""

    term = fields.Nested(TermDetail, required=True)
    id = fields.Integer(metadata={"description": "Id of the label, definition or relation made."})


term_detail_schema = TermDetail()
problem_schema = ProblemSchema()
