"""The HTML a person sees on the demo tenant's sign-in pages: pick an account, enter a device code.

Plain server-rendered forms with no script (except the ``form_post`` hand-back), served from the
emulator's plain-http host, so a browser never meets the private CA. Keyboard-friendly: the
account list is a radio group (arrow keys move, Enter signs in), "Sign in" is the form's default
button, every control has a visible focus ring and a label. Stable ids for browser tests:
``#signin``, ``#cancel``, radio inputs named ``user`` whose labels start with the display name,
``#otc`` (device code) and ``#next``.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from starlette.responses import HTMLResponse

__all__ = [
    "PAGE_HEADERS",
    "Identity",
    "device_code_page",
    "form_post_page",
    "message_page",
    "picker_page",
]

PAGE_HEADERS = {
    "Cache-Control": "no-store, no-cache",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # No form-action: Chromium applies it to the redirect that follows a form submission, and the
    # redirect goes to the app (another origin).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


@dataclass(frozen=True)
class Identity:
    """One account offered on the picker."""

    user_id: str
    name: str
    upn: str
    roles: tuple[str, ...]
    """Directory role names, shown under the account."""


_CSS = """
:root { color-scheme: light; --accent: #0067b8; --ink: #1b1b1b; --muted: #5f5f5f; --line: #d1d1d1; }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  background: #f2f2f2; font: 15px/1.45 "Segoe UI", system-ui, -apple-system, sans-serif; color: var(--ink); }
main { width: min(440px, calc(100vw - 24px)); background: #fff; padding: 36px 40px 32px;
  box-shadow: 0 2px 6px rgba(0,0,0,.2); }
.brand { font-size: 13px; color: var(--muted); margin: 0 0 14px; letter-spacing: .02em; }
.badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #fff4ce;
  color: #5c4400; border: 1px solid #e9d48a; margin-left: 6px; }
h1 { font-size: 24px; font-weight: 600; margin: 0 0 4px; }
p { margin: 0 0 16px; }
.sub { color: var(--muted); margin-bottom: 18px; }
fieldset { border: 0; margin: 0 0 20px; padding: 0; }
legend { position: absolute; left: -9999px; }
.account { display: flex; gap: 12px; align-items: flex-start; padding: 12px; border: 1px solid var(--line);
  margin-bottom: 8px; cursor: pointer; }
.account:hover { background: #f6f6f6; }
.account:has(input:checked) { border-color: var(--accent); background: #f0f6fc; }
.account input { margin-top: 4px; accent-color: var(--accent); }
.name { font-weight: 600; display: block; }
.upn { color: var(--muted); font-size: 13px; display: block; word-break: break-all; }
.roles { font-size: 13px; display: block; margin-top: 2px; }
.actions { display: flex; gap: 8px; justify-content: flex-end; }
button { font: inherit; min-width: 108px; padding: 6px 14px; border: 1px solid transparent; cursor: pointer; }
button.primary { background: var(--accent); color: #fff; }
button.primary:hover { background: #005da6; }
button.secondary { background: #e6e6e6; color: var(--ink); }
button.secondary:hover { background: #d6d6d6; }
input[type=text] { font: inherit; width: 100%; padding: 6px 2px; border: 0; border-bottom: 1px solid #666;
  margin-bottom: 20px; letter-spacing: .12em; text-transform: uppercase; }
:focus-visible { outline: 2px solid var(--ink); outline-offset: 2px; }
.error { color: #a80000; background: #fde7e9; padding: 8px 10px; margin-bottom: 16px; }
.note { color: var(--muted); font-size: 13px; margin: 18px 0 0; }
code { font-size: 14px; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _document(title: str, body: str, *, tenant_name: str = "") -> str:
    brand = "Microsoft identity platform — demo tenant emulator"
    badge = f'<span class="badge">Demo tenant{": " + _e(tenant_name) if tenant_name else ""}</span>'
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><main>\n<p class=\"brand\">{_e(brand)}{badge}</p>\n<h1>{_e(title)}</h1>\n{body}\n"
        "</main></body></html>\n"
    )


def _response(status: int, document: str, extra_headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(document, status_code=status, headers={**PAGE_HEADERS, **(extra_headers or {})})


def message_page(status: int, title: str, message: str, *, tenant_name: str = "") -> HTMLResponse:
    """A page with a title and one message (errors, "you may close this window")."""
    return _response(status, _document(title, f"<p>{_e(message)}</p>", tenant_name=tenant_name))


def picker_page(
    *,
    action: str,
    txn: str,
    app_name: str,
    tenant_name: str,
    identities: Sequence[Identity],
    selected: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """"Pick an account": one radio per identity, then "Sign in" (default) or "Cancel"."""
    chosen = selected if any(i.user_id == selected for i in identities) else None
    if chosen is None and identities:
        chosen = identities[0].user_id
    rows = []
    for n, ident in enumerate(identities):
        checked = " checked" if ident.user_id == chosen else ""
        roles = ", ".join(ident.roles) or "No directory role"
        rows.append(
            f'<label class="account" for="user-{n}">'
            f'<input type="radio" name="user" id="user-{n}" value="{_e(ident.user_id)}"{checked} required>'
            f'<span><span class="name">{_e(ident.name)}</span><span class="upn">{_e(ident.upn)}</span>'
            f'<span class="roles">{_e(roles)}</span></span></label>'
        )
    problem = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    body = (
        f'<p class="sub">to continue to {_e(app_name)}</p>\n{problem}'
        f'<form method="post" action="{_e(action)}">\n'
        f'<input type="hidden" name="txn" value="{_e(txn)}">\n'
        f'<fieldset><legend>Accounts</legend>\n{"".join(rows)}\n</fieldset>\n'
        '<div class="actions">'
        '<button type="submit" class="primary" id="signin" name="action" value="signin">Sign in</button>'
        '<button type="submit" class="secondary" id="cancel" name="action" value="cancel" formnovalidate>'
        "Cancel</button></div>\n</form>\n"
        '<p class="note">This is the demo tenant: no password is asked. Pick the identity to sign in as.</p>'
    )
    return _response(status, _document("Pick an account", body, tenant_name=tenant_name))


def device_code_page(*, action: str, tenant_name: str, value: str = "", error: str | None = None,
                     status: int = 200) -> HTMLResponse:
    """"Enter code": the page a device flow's ``verification_uri`` opens."""
    problem = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    body = (
        '<p class="sub">Enter the code displayed on your app or device.</p>\n'
        f'{problem}<form method="post" action="{_e(action)}">\n'
        '<label for="otc" class="name">Code</label>\n'
        f'<input type="text" id="otc" name="otc" value="{_e(value)}" autocomplete="off" autocapitalize="characters"'
        ' spellcheck="false" autofocus required maxlength="20">\n'
        '<div class="actions"><button type="submit" class="primary" id="next">Next</button></div>\n</form>'
    )
    return _response(status, _document("Enter code", body, tenant_name=tenant_name))


def form_post_page(redirect_uri: str, fields: Mapping[str, str]) -> HTMLResponse:
    """``response_mode=form_post``: a form the browser submits to the app at once (a button without script)."""
    nonce = secrets.token_urlsafe(12)
    inputs = "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields.items())
    document = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Working...</title></head>\n"
        f'<body><form method="post" id="handback" action="{_e(redirect_uri)}">{inputs}'
        '<noscript><p>Script is disabled. Click Continue to go back to the app.</p>'
        '<button type="submit">Continue</button></noscript></form>'
        f'<script nonce="{nonce}">document.getElementById("handback").submit();</script></body></html>\n'
    )
    csp = f"default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'"
    return _response(200, document, {"Content-Security-Policy": csp})
