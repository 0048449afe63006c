"""The two sign-in requests, served by the console's own web server next to the Streamlit app.

``app.py`` passes :class:`SignInMiddleware` to ``st.App`` (Streamlit's ASGI app: its user middleware
runs before Streamlit's own routes). It answers only

* ``GET /auth/sign-in?next=/users``: begin (sets the binding cookie, redirects to the identity platform);
* ``GET <redirect URI's path>?state=…&code=…`` (or ``&error=…``): finish (sets the session cookie,
  redirects to the page asked for, or back to it with ``?sign_in_error=<code>``),

and hands every other request to Streamlit untouched. The redirect URI stays the console's own URL
(``http://localhost:8501/`` by default), as registered for a real tenant. MSAL and Graph block, so
both run on a worker thread. Which tenant to sign in to comes from the running console
(:func:`provide_auth_config`, called by ``lib.ui.context``): before the first page load there is none,
and the browser is sent to the sign-in page, which starts it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lib.auth import AuthConfig, AuthError
from lib.auth.browser_sessions import BINDING_COOKIE, SESSION_COOKIE, BrowserSessions, default_sessions
from lib.auth.pending import PendingFlows
from lib.auth.web_sign_in import WebSignIn, safe_landing
from lib.ui.browser_session import NOTICE_PARAM

__all__ = ["SIGN_IN_PATH", "SignInMiddleware", "provide_auth_config", "sign_in_url"]

SIGN_IN_PATH = "/auth/sign-in"
ERROR_PARAM = NOTICE_PARAM
BINDING_MAX_AGE = 600
"""As long as a pending flow lives (lib.auth.pending.DEFAULT_TTL)."""

ConfigFactory = Callable[[str], AuthConfig]
"""The app's own base URL (``http://host:port/``, as the browser reached it) → how to sign in."""

_factory: ConfigFactory | None = None
_factory_lock = threading.Lock()


def provide_auth_config(factory: ConfigFactory) -> None:
    """Tell the sign-in routes how to sign in to the console's tenant (the console does, once it runs)."""
    global _factory
    with _factory_lock:
        _factory = factory


def _config(base_url: str) -> AuthConfig | None:
    with _factory_lock:
        factory = _factory
    return factory(base_url) if factory is not None else None


def sign_in_url(landing: str) -> str:
    """The sign-in link of the sign-in page: begin here, and come back to ``landing``."""
    return f"{SIGN_IN_PATH}?{urlencode({'next': safe_landing(landing)})}"


def _is_callback(request: Request) -> bool:
    query = request.query_params
    return bool(query.get("state")) and ("code" in query or "error" in query)


def _secure(request: Request, config: AuthConfig | None) -> bool:
    return request.url.scheme == "https" or bool(config and config.redirect_uri.startswith("https://"))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class SignInMiddleware:
    """ASGI middleware: the sign-in requests here, everything else to Streamlit."""

    def __init__(self, app: ASGIApp, *, sessions: BrowserSessions | None = None,
                 pending: PendingFlows | None = None) -> None:
        self.app = app
        self._sessions = sessions
        self._pending = pending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":  # never HEAD: a probe must not use a flow up
            request = Request(scope)
            response = await self._handle(request)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _handle(self, request: Request) -> Response | None:
        path = request.url.path
        if path != SIGN_IN_PATH and not _is_callback(request):
            return None
        config = _config(f"{request.url.scheme}://{request.url.netloc}/")
        if path == SIGN_IN_PATH:
            return _no_store(await self._begin(request, config))
        callback_path = (urlsplit(config.redirect_uri).path or "/") if config else "/"
        if path != callback_path:
            return None
        return _no_store(await self._finish(request, config))

    def _service(self, config: AuthConfig) -> WebSignIn:
        return WebSignIn(config, sessions=self._sessions or default_sessions(), pending=self._pending)

    async def _begin(self, request: Request, config: AuthConfig | None) -> Response:
        landing = safe_landing(request.query_params.get("next"))
        if config is None:  # the console has not started yet: its sign-in page starts it
            return RedirectResponse(landing, status_code=303)
        service = self._service(config)
        try:
            began = await run_in_threadpool(service.begin, landing, request.cookies.get(BINDING_COOKIE))
        except AuthError as err:
            return RedirectResponse(_with_error(landing, err.code), status_code=303)
        response = RedirectResponse(began.auth_uri, status_code=303)
        response.set_cookie(BINDING_COOKIE, began.binding_cookie, max_age=BINDING_MAX_AGE, path="/",
                            httponly=True, samesite="lax", secure=_secure(request, config))
        return response

    async def _finish(self, request: Request, config: AuthConfig | None) -> Response:
        if config is None:
            return RedirectResponse(_with_error("/", "flow_expired"), status_code=303)
        service = self._service(config)
        finished = await run_in_threadpool(service.finish, dict(request.query_params),
                                           request.cookies.get(BINDING_COOKIE), request.cookies.get(SESSION_COOKIE))
        if finished.session_cookie is None:
            return RedirectResponse(_with_error(finished.landing, finished.error_code or "sign_in_failed"),
                                    status_code=303)
        response = RedirectResponse(finished.landing, status_code=303)
        response.set_cookie(SESSION_COOKIE, finished.session_cookie, max_age=int(service.sessions.lifetime),
                            path="/", httponly=True, samesite="strict", secure=_secure(request, config))
        return response


def _with_error(landing: str, code: str) -> str:
    return f"{safe_landing(landing)}?{urlencode({ERROR_PARAM: code})}"

