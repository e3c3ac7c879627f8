"""Browser-facing safety: security headers on every response, CSRF tokens for every HTML form,
and a session cookie that is Secure whenever the request came over HTTPS."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Request, Response, abort, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure on HTTPS requests even without the setting."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A fresh empty session straight away when the request carries no session cookie (every
        API call from other tools): no signing serializer is made for it."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured, or when this request arrived over HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"] or (request and request.is_secure))


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) an unsafe request whose form lacks the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD, "") or request.headers.get("X-CSRF-Token", "")
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, "The form expired or did not come from this site. Reload the page and retry.")


def add_security_headers(response: Response) -> Response:
    """Set the security headers on a response, keeping any a view set itself."""
    present = {name.lower() for name in response.headers.keys()}
    for name, value in HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    """Install the session interface, the header hook and the `csrf_token()` template global."""
    app.session_interface = SessionInterface()
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
