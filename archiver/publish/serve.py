"""`archiver serve`: preview the static site locally with the headers a real host must send.

Built on Werkzeug (the WSGI library under Flask): its `send_file` implements conditional GET
and single byte-range requests (206, 416, If-Range, ETag, Last-Modified) correctly, which video
seeking needs, and its threaded server runs the HTTP protocol; this module only chooses files,
MIME types and headers, so no HTTP parsing is done here. The same headers for nginx and Apache
are in docs/serving.md.

Files are opened through `archiver.safefs`, one path component at a time from the root's
folder descriptor with O_NOFOLLOW: a symlink anywhere on the way (a published site holds none)
is a 404, so nothing outside the root is ever served, whatever anyone put inside it; FIFOs and
devices are 404 too and are never opened. The open descriptor is what is sent, so Werkzeug's
conditional and Range handling (`make_conditional`) works on exactly the file we checked.

Two answers beyond files: `/oembed?url=…` is the oEmbed endpoint (oembed_endpoint.py), and
every HTML page carries `Content-Security-Policy: frame-ancestors …` as a header, because
browsers ignore `frame-ancestors` in a `<meta>` CSP. Embed pages (and the IIIF viewer) may be
framed by the sites `--frame-ancestors` names (default `*`, any site); every other page only
by the site itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import mimetypes
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver import safefs
from archiver.errors import Location, UsageError
from archiver.log import EventLog
from archiver.publish.oembed_endpoint import answer

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer
    from werkzeug.wrappers import Response

HELP = "preview <output>/site over HTTP with correct MIME types, Range and CORS headers"
NEEDS_MANIFEST = False

# explicit types: the system's mime.types may lack or mislabel these
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".txt": "text/plain; charset=utf-8",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# every file of the site is public: media and tracks must load into <video crossorigin> and
# catalog.json into scripts on other origins
COMMON_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

FRAMEABLE = ("embed/", "viewer/")  # pages meant to be shown inside other sites' iframes
# one CSP source expression: a keyword, `*`, a scheme (`https:`) or a host source
_SOURCE = re.compile(r"\*|'self'|'none'|[a-z][a-z0-9+.-]*:|"
                     r"(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?[a-z0-9.-]+(?::(?:\d+|\*))?(?:/\S*)?",
                     re.IGNORECASE)


def frame_ancestors(value: str) -> str:
    """Validate `--frame-ancestors`: CSP source expressions separated by spaces (`*`,
    `'self'`, `'none'`, `https:`, `https://cms.example.org`); nothing that could end the
    header or add another directive."""
    sources = value.split()
    bad = [s for s in sources if not _SOURCE.fullmatch(s) or ";" in s or "," in s]
    if not sources or bad or ("'none'" in sources and len(sources) > 1):
        raise UsageError(f"--frame-ancestors expects CSP sources such as * or 'self' or "
                         f"https://cms.example.org, separated by spaces; got {value!r}",
                         Location(key="--frame-ancestors"))
    return " ".join(sources)


def _csp_frame_header(rel_path: str, ancestors: str) -> str:
    framed = rel_path.startswith(FRAMEABLE)
    return f"frame-ancestors {ancestors if framed else chr(39) + 'self' + chr(39)}"


def _oembed(root: Path, request: Any) -> Response:
    from werkzeug.wrappers import Response

    result = answer(root, {k: request.args.get(k) for k in request.args}, request.host_url)
    return Response(json.dumps(result.body, ensure_ascii=False), status=result.status,
                    mimetype="application/json")


def mime_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in MIME_TYPES:
        return MIME_TYPES[suffix]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _open_request_path(root: Path, url_path: str) -> tuple[int, os.stat_result, str]:
    """(descriptor, fstat, relative path) of the file a request names, or NotFound.

    `..`, absolute and hidden components (temporary `.tmp-` files are hidden) are refused
    before any system call; a folder serves its index.html; no symlink is followed."""
    from werkzeug.exceptions import NotFound

    try:
        parts = safefs.split(url_path.lstrip("/"))
    except safefs.UnsafePath:
        raise NotFound() from None
    if any(p.startswith(".") for p in parts):
        raise NotFound()
    rel = "/".join(parts)
    try:
        if not parts or safefs.kind_of(safefs.lstat(root, rel).st_mode) == safefs.DIRECTORY:
            rel = f"{rel}/index.html" if rel else "index.html"
        fd, st = safefs.open_regular(root, rel)
    except (OSError, safefs.UnsafePath):
        raise NotFound() from None
    return fd, st, rel


def send_under(root: Path, url_path: str, environ: dict[str, Any]) -> Response:
    """The response for GET/HEAD of `url_path` below `root`: 200, 206, 304, 416 or 404."""
    from werkzeug.exceptions import RequestedRangeNotSatisfiable
    from werkzeug.wrappers import Response
    from werkzeug.wsgi import wrap_file

    fd, st, rel = _open_request_path(root, url_path)
    handle = os.fdopen(fd, "rb")
    mimetype = mime_type(Path(rel))
    response = Response(wrap_file(environ, handle), mimetype=mimetype,
                        direct_passthrough=True)
    response.headers["Content-Type"] = mimetype  # keep charset as given
    response.content_length = st.st_size
    response.last_modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
    response.set_etag(f"{st.st_mtime}-{st.st_size}-{zlib.adler32(rel.encode()) & 0xFFFFFFFF}")
    response.cache_control.no_cache = True
    try:
        return response.make_conditional(environ, accept_ranges=True,
                                         complete_length=st.st_size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise


def make_app(root: Path, cors: bool = True, ancestors: str = "*") -> WSGIApp:
    """A WSGI app serving the files under `root` (read-only, GET/HEAD/OPTIONS), plus the
    oEmbed endpoint. `ancestors`: who may frame the embed pages (`--frame-ancestors`).

    `cors=False` leaves out the CORS headers: only for tests that show they are needed.
    """
    ancestors = frame_ancestors(ancestors)
    from werkzeug.exceptions import HTTPException, MethodNotAllowed
    from werkzeug.wrappers import Request, Response

    root = root.resolve()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            if request.method == "OPTIONS":  # CORS preflight (e.g. fetch() with a Range header)
                response = Response(status=204)
                if cors:
                    response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
                    response.headers["Access-Control-Allow-Headers"] = "Range"
                    response.headers["Access-Control-Max-Age"] = "86400"
            elif request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(valid_methods=["GET", "HEAD", "OPTIONS"])
            elif request.path == "/oembed":
                response = _oembed(root, request)
            else:
                response = send_under(root, request.path, environ)
        except HTTPException as exc:
            response = exc.get_response(environ)
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = _csp_frame_header(
                request.path.lstrip("/"), ancestors)
        for key, value in COMMON_HEADERS.items():
            if cors or not key.startswith("Access-Control-"):
                response.headers[key] = value
        return response(environ, start_response)

    return app


class SiteServer:
    """The preview server on a background thread (tests and `check` use it with port 0)."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0,
                 log: EventLog | None = None, cors: bool = True,
                 ancestors: str = "*") -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        if not root.is_dir():
            raise UsageError(f"nothing to serve: {root} is not a folder (run `archiver "
                             "publish` first)")
        event_log = log

        class Handler(WSGIRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if event_log is not None:
                    event_log.debug("request", stage="serve", line=self.requestline,
                                    status=str(code))

        try:
            self.server: BaseWSGIServer = make_server(host, port,
                                                      make_app(root, cors, ancestors),
                                                      threaded=True,
                                                      request_handler=Handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.server.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.server.server_port}/"

    def start(self) -> SiteServer:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="archiver-serve")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; default: %(default)s (this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port; default: %(default)s")
    parser.add_argument("--root", type=Path, default=None,
                        help="folder to serve; default: <output>/site")
    parser.add_argument("--frame-ancestors", default="*",
                        help="who may show the embed pages in an iframe, sent as the HTTP "
                        "header Content-Security-Policy: frame-ancestors (a <meta> tag cannot "
                        "set it): CSP sources separated by spaces, e.g. \"'self' "
                        "https://cms.example.org\"; default: %(default)s (any site). Other "
                        "pages may be framed only by the site itself")


def run(args: argparse.Namespace, log: EventLog) -> int:
    root = args.root if args.root is not None else args.output / "site"
    server = SiteServer(root, args.host, args.port, log, ancestors=args.frame_ancestors)
    log.info("serving", path=str(root), url=server.url,
             message="press Ctrl-C to stop")
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:  # the normal way to stop a preview, not a failure
        log.info("stopped", stage="serve")
    finally:
        server.server.server_close()
    return 0
