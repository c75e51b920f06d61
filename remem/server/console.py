"""The web console at ``/ui`` and the API docs at ``/docs``, with no asset from a CDN.

``mount(app)`` adds both to the app of ``create_app``; none of these routes is in the OpenAPI
schema, and none needs an API key: the pages hold no data. Every data call the console makes goes
to the REST API (``/v1/...``) with the key the user enters, like any other client, and passes the
server's cross-origin rules because the page is served from the same origin.

The console is three static files shipped in the package (``remem/server/ui/``): plain JS, no
build step. Its HTML carries a Content-Security-Policy that allows only the server's own scripts,
styles and API (no inline script, no other origin), and may not be framed.

Swagger UI comes from the ``fastapi-offline`` package (a dependency of ``remem[server]``), which
ships its current bundle; the page FastAPI would serve loads it from a CDN, so it is blank on a
machine without internet. There is no ``/redoc``: ReDoc's bundle loads its logo from its own CDN
whatever it is told, and Swagger UI already documents (and tries) every route.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from remem.errors import NotFound

UI_DIR = Path(__file__).with_name("ui")
UI_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
DOCS_DIR = Path(fastapi_offline.__file__).with_name("static")
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
DOCS_ASSETS = "/docs/assets"

# The console: the server's own files and API only; no inline code, no framing, no forms posted.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI: FastAPI's page starts it with an inline script; still nothing loads from another
# origin.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def mount(app: FastAPI) -> None:
    """Add the console (``/ui``) and the offline docs (``/docs``) to ``app``.

    Build the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not there.
    """
    _console_routes(app)
    _docs_routes(app)


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "Cache-Control": "no-cache", **_COMMON}


def _console_routes(app: FastAPI) -> None:
    @app.get("/ui", include_in_schema=False)
    def console_redirect() -> RedirectResponse:
        # Relative, so a proxy's path prefix stays; the page's own URLs are relative too.
        return RedirectResponse("ui/", status_code=308)

    @app.get("/ui/", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(
            UI_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers=_headers(CONSOLE_CSP),
        )

    @app.get("/ui/{name}", include_in_schema=False)
    def console_asset(name: str) -> FileResponse:
        if name not in UI_FILES:
            raise NotFound(f"no console file {name!r}")
        return FileResponse(UI_DIR / name, media_type=UI_FILES[name], headers=_headers(CONSOLE_CSP))


def _docs_routes(app: FastAPI) -> None:
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=base + oauth2_url,
            swagger_js_url=f"{base}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS}/favicon.png",
            # No call to the public validator service.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _with_headers(page, DOCS_CSP)

    @app.get(oauth2_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _with_headers(get_swagger_ui_oauth2_redirect_html(), DOCS_CSP)

    @app.get(DOCS_ASSETS + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_FILES:
            raise NotFound(f"no docs file {name!r}")
        return FileResponse(DOCS_DIR / name, media_type=DOCS_FILES[name], headers=_COMMON)


def _with_headers(page: HTMLResponse, csp: str) -> HTMLResponse:
    page.headers.update(_headers(csp))
    return page
