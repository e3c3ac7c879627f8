"""The editor pages through Flask's test client: token login into a session cookie, CSRF on every
form, the candidates queue (accept, merge, reject), term create/edit, merge and recent changes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from glossary.models import Candidate
from glossary.store import get_store


def token_for(runner, role: str = "editor", name: str = "page-test") -> str:  # noqa: ANN001
    """A new API token made through the command line."""
    result = runner.invoke(args=["token", "create", name, "--role", role])
    assert result.exit_code == 0, result.output
    return re.search(r"glos_[\w-]+", result.output).group(0)


def csrf(client) -> str:  # noqa: ANN001
    """The session's CSRF token (a page view creates it)."""
    client.get("/editor/login")
    with client.session_transaction() as session:
        return session["csrf_token"]


def post(client, path: str, **data: str):  # noqa: ANN001, ANN201
    """Submit a form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **data})


@pytest.fixture
def editor(client, runner):  # noqa: ANN001, ANN201
    """The test client, logged in with an admin token."""
    response = post(client, "/editor/login", token=token_for(runner, "admin"))
    assert response.status_code == 302
    return client


def pending(app) -> Candidate:  # noqa: ANN001
    """The one candidate the test articles produce."""
    with get_store(app).write() as session:
        return session.scalar(select(Candidate).where(Candidate.status == "pending"))


def test_editor_pages_need_a_login(client) -> None:  # noqa: ANN001
    for path in ("/editor/", "/editor/changes", "/editor/terms/new", "/editor/merge"):
        response = client.get(path)
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        assert '<form class="card-form narrow" action="/editor/login" method="post">' in page
        assert f'<input type="hidden" name="next" value="{path}">' in page


def test_login_with_a_bad_token_fails(client) -> None:  # noqa: ANN001
    response = post(client, "/editor/login", token="glos_wrong")
    assert response.status_code == 401
    assert "not valid" in response.get_data(as_text=True)


def test_login_keeps_only_a_signed_reference_in_the_cookie(client, runner) -> None:  # noqa: ANN001
    token = token_for(runner)
    response = post(client, "/editor/login", token=token, next="/editor/changes")
    assert response.status_code == 302 and response.headers["Location"] == "/editor/changes"
    cookie = client.get_cookie("session")
    assert token not in cookie.value and cookie.http_only and cookie.same_site == "Lax"
    page = client.get("/editor/").get_data(as_text=True)
    assert "Log out page-test" in page


def test_login_never_redirects_off_site(client, runner) -> None:  # noqa: ANN001
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = post(client, "/editor/login", token=token_for(runner), next=target)
        assert response.headers["Location"] == "/editor/"


def test_forms_without_the_csrf_token_are_refused(editor, app) -> None:  # noqa: ANN001
    candidate = pending(app)
    response = editor.post(f"/editor/candidates/{candidate.id}/reject", data={})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    response = editor.post("/editor/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert pending(app).status == "pending"


def test_every_form_carries_the_csrf_token(editor) -> None:  # noqa: ANN001
    for path in ("/editor/", "/editor/terms/new", "/editor/terms/cabinet/edit", "/editor/merge"):
        page = editor.get(path).get_data(as_text=True)
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", page, re.S)
        assert forms, path
        assert all('name="csrf_token"' in f for f in forms), path


def test_logout_ends_the_session(editor) -> None:  # noqa: ANN001
    response = post(editor, "/editor/logout")
    assert response.status_code == 302
    assert editor.get("/editor/").status_code == 401


def test_a_revoked_token_ends_its_sessions(editor, runner) -> None:  # noqa: ANN001
    listing = runner.invoke(args=["token", "list"]).output
    token_id = re.search(r"(\d+)\s+page-test", listing) or re.search(r"^\s*(\d+)", listing, re.M)
    result = runner.invoke(args=["token", "revoke", token_id.group(1)])
    assert result.exit_code == 0, result.output
    assert editor.get("/editor/").status_code == 401


def test_queue_shows_contexts_and_draft_definitions(editor, app) -> None:  # noqa: ANN001
    page = editor.get("/editor/").get_data(as_text=True)
    assert "National Price Review Office" in page
    assert "<mark>National Price Review Office</mark>, a body the glossary" in page
    assert "Seen 1 time" in page
    assert f'id="candidate-{pending(app).id}"' in page
    assert '<link rel="alternate" type="application/json" href="/api/candidates' in page


def test_accept_a_candidate_then_find_it(editor, app) -> None:  # noqa: ANN001
    candidate = pending(app)
    response = post(
        editor,
        f"/editor/candidates/{candidate.id}/accept",
        name="National Price Review Office",
        type="organization",
        definition="Test entry: a price office.",
    )
    assert response.status_code == 302
    queue = editor.get("/editor/").get_data(as_text=True)
    assert 'Accepted as a new term: <a href="/terms/national-price-review-office">' in queue
    found = editor.get("/?q=National Price Review").get_data(as_text=True)
    assert '<a href="/terms/national-price-review-office">National Price Review Office</a>' in found
    term = editor.get("/terms/national-price-review-office").get_data(as_text=True)
    assert "Test entry: a price office." in term
    assert "Inspectors visit Pyongsong Market" in term  # its past mention now cites the term


def test_merge_a_candidate_into_a_term(editor, app) -> None:  # noqa: ANN001
    candidate = pending(app)
    response = post(editor, f"/editor/candidates/{candidate.id}/merge", target="cabinet")
    assert response.status_code == 302
    page = editor.get("/terms/cabinet").get_data(as_text=True)
    assert "National Price Review Office" in page.split('<dl class="labels">', 1)[1]


def test_merge_into_an_unknown_term_is_explained(editor, app) -> None:  # noqa: ANN001
    candidate = pending(app)
    post(editor, f"/editor/candidates/{candidate.id}/merge", target="no-such-term")
    page = editor.get("/editor/").get_data(as_text=True)
    assert "Not done:" in page and "no-such-term" in page
    assert pending(app).status == "pending"


def test_reject_a_candidate(editor, app) -> None:  # noqa: ANN001
    candidate = pending(app)
    post(editor, f"/editor/candidates/{candidate.id}/reject")
    assert pending(app) is None
    page = editor.get("/editor/?status=rejected").get_data(as_text=True)
    assert "National Price Review Office" in page


def test_create_a_term_with_labels_definitions_relations_and_parent(editor) -> None:  # noqa: ANN001
    response = post(
        editor,
        "/editor/terms/new",
        name="Test Bureau",
        type="organization",
        parent="cabinet",
        **{
            "label-0-text": "TB",
            "label-0-kind": "abbreviation",
            "label-0-case_sensitive": "1",
            "label-1-text": "시험국",
            "label-1-kind": "hangul",
            "label-1-language": "ko",
            "label-2-text": "",
            "definition-0-text": "Test entry: a bureau.",
            "definition-0-source": "test",
            "relation-0-kind": "related",
            "relation-0-target": "ministry-of-social-security",
            "relation-1-target": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/terms/test-bureau"
    page = editor.get("/terms/test-bureau").get_data(as_text=True)
    assert '<a href="/terms/cabinet">Cabinet</a>' in page
    assert "TB" in page and "시험국" in page and "Test entry: a bureau." in page
    assert "See also" in page and "Ministry of Social Security" in page


def test_create_refuses_bad_fields_and_keeps_what_was_typed(editor) -> None:  # noqa: ANN001
    response = post(
        editor,
        "/editor/terms/new",
        name="Another Bureau",
        type="spaceship",
        **{"label-0-text": "AB <b>", "label-0-kind": "alias", "label-0-valid_to": "soon"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The term was not saved." in page
    assert 'value="Another Bureau"' in page and 'value="AB &lt;b&gt;"' in page


def test_edit_a_term(editor) -> None:  # noqa: ANN001
    form = editor.get("/editor/terms/ministry-of-social-security/edit").get_data(as_text=True)
    fields = dict(re.findall(r'<input(?![^>]*checkbox)[^>]*name="([\w-]+)" value="([^"]*)"', form))
    fields.update(re.findall(r'type="checkbox" name="([\w-]+)" value="(1)" checked', form))
    textareas = dict(re.findall(r'name="([\w-]+)"[^>]*>([^<]*)</textarea>', form))
    data = {k: v.replace("&#39;", "'").replace("&#34;", '"') for k, v in fields.items()}
    data.update(textareas)
    data.update({"type": "organization", "name": "Ministry of Social Security"})
    for i in range(10):  # selects keep their current option
        kind = re.search(rf'name="label-{i}-kind">.*?<option selected>(\w+)<', form, re.S)
        if kind:
            data[f"label-{i}-kind"] = kind.group(1)
        rom = re.search(rf'name="label-{i}-romanization">.*?</select>', form, re.S)
        chosen = rom and re.search(r"<option selected>(\w+)<", rom.group(0))
        data[f"label-{i}-romanization"] = chosen.group(1) if chosen else ""
        rel = re.search(rf'name="relation-{i}-kind">.*?<option selected>(\w+)<', form, re.S)
        if rel:
            data[f"relation-{i}-kind"] = rel.group(1)
    removed = next(k for k, v in data.items() if v == "MSS" and k.startswith("label-"))
    data[removed.replace("-text", "-remove")] = "1"
    blank = next(f"label-{i}-text" for i in range(10) if data.get(f"label-{i}-text") == "")
    data[blank] = "Social Security Ministry"
    data["definition-0-text"] = "Test entry: the police ministry, renamed in 2020."
    response = post(editor, "/editor/terms/ministry-of-social-security/edit", **data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    page = editor.get("/terms/ministry-of-social-security").get_data(as_text=True)
    labels = page.split('<dl class="labels">', 1)[1].split("</dl>", 1)[0]
    assert "Social Security Ministry" in labels and "MSS" not in labels
    assert "renamed in 2020" in page
    assert "Ministry of People&#39;s Security" in labels  # untouched rows stay


def test_edit_refuses_a_stale_form(editor) -> None:  # noqa: ANN001
    response = post(
        editor,
        "/editor/terms/cabinet/edit",
        name="Cabinet of Ministers",
        type="organization",
        etag='"stale"',
    )
    assert response.status_code == 422
    assert "changed since it was read" in response.get_data(as_text=True)
    assert "Cabinet of Ministers" not in editor.get("/terms/cabinet").get_data(as_text=True)


def test_merge_terms(editor) -> None:  # noqa: ANN001
    response = post(editor, "/editor/merge", source="ministry-of-state-security", target="cabinet")
    assert response.status_code == 302 and response.headers["Location"] == "/terms/cabinet"
    assert editor.get("/terms/ministry-of-state-security").status_code == 301


def test_merge_needs_an_admin(client, runner) -> None:  # noqa: ANN001
    post(client, "/editor/login", token=token_for(runner, "editor"))
    response = post(client, "/editor/merge", source="juche", target="cabinet")
    assert response.status_code == 403
    assert "admin" in response.get_data(as_text=True)


def test_recent_changes_newest_first(editor, app) -> None:  # noqa: ANN001
    post(editor, f"/editor/candidates/{pending(app).id}/reject")
    page = editor.get("/editor/changes").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>", page)
    assert rows and rows == sorted(rows, key=int, reverse=True)
    assert "token:page-test" in page and "rejected" in page
    older = editor.get("/editor/changes?since=0&limit=2").get_data(as_text=True)
    assert len(re.findall(r"<tr>\s*<td>(\d+)</td>", older)) == 2
    assert "Newer" in older
