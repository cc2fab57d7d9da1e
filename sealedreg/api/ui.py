"""`/ui/`: a read-only browse page (docs/api.md "Browse page").

`GET /ui/` lists namespaces (publish state, repositories, sizes), the blobs
shared between repositories and what dedupe saved; `GET /ui/r/<repository>`
one repository's tags, manifests and blobs. The data is
`sealedreg.registry.browse`'s; this module only renders it.

Access is the API's: the page shows exactly the repositories the viewer may
pull (others are left out, their names appear nowhere). With auth off that is
everything. With auth on, the viewer is who its HTTP Basic credentials say
(`Authenticator.viewer`: the users file, throttled like every password
check), else anonymous; `?login=1` asks the browser for credentials.

Every value is HTML-escaped; the page has no script, and its only style is
the inline sheet below, allowed by hash in a `Content-Security-Policy` that
allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import datetime, timezone
from typing import Iterable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sealedreg.auth.authorize import BASIC_CHALLENGE, Authenticator
from sealedreg.auth.identity import Identity, Refusal
from sealedreg.registry.browse import Browser, ManifestView, NamespaceView, Overview, PublishState, RepositoryView
from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.refs import validate_name

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1b1f24}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .4rem}h3{font-size:1rem;margin:1rem 0 .3rem}
header{border-bottom:1px solid #d0d7de;padding-bottom:.6rem;margin-bottom:.8rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
code{font:12px ui-monospace,monospace;word-break:break-all}
.badge{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#ddf4ff;font-size:12px}
.private{background:#fff1e5}.muted{color:#57606a}dl{margin:.2rem 0}dt{font-weight:600}dd{margin:0 0 .3rem 1rem}
dl.publish{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem}dl.publish dd{margin:0}
"""

CSP = (f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
       "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # what is shown depends on who asks
}


def e(value: object) -> str:
    """Escape for HTML text and attribute values (always double-quoted)."""
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------- endpoints
async def home(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=308)


async def overview(request: Request) -> Response:
    viewer = await _viewer(request)
    if isinstance(viewer, Response):
        return viewer
    data = await _browser(request).overview(viewer.may_pull)
    return _page("sealedreg", _header(viewer) + _overview(data))


async def repository(request: Request) -> Response:
    viewer = await _viewer(request)
    if isinstance(viewer, Response):
        return viewer
    try:
        name = validate_name(request.path_params["name"])
    except NameInvalid:
        name = None
    repo = (await _browser(request).overview(viewer.may_pull)).repository(name) if name else None
    if repo is None:  # not there, or not the viewer's to see: the same answer
        return _page("not found", _header(viewer) + "<p>No such repository here that you may pull. "
                     '<a href="/ui/">All repositories</a></p>', 404)
    return _page(f"{repo.name} · sealedreg", _header(viewer) + _repository(repo))


# ---------------------------------------------------------------- who is looking
class Viewer:
    """The page's viewer: an identity (None: auth off, everything shown)."""

    def __init__(self, identity: Identity | None) -> None:
        self.identity = identity

    def may_pull(self, repository: str) -> bool:
        return self.identity is None or self.identity.may_see(repository)


async def _viewer(request: Request) -> Viewer | Response:
    auth: Authenticator | None = request.app.state.auth
    if auth is None:
        return Viewer(None)
    decision = await auth.viewer(request.scope)
    if isinstance(decision, Refusal):
        return _refused(decision)
    if decision.subject is None and request.query_params.get("login"):
        return _refused(Refusal(401, "UNAUTHORIZED", "log in",
                                headers={"WWW-Authenticate": BASIC_CHALLENGE}))
    return Viewer(decision)


def _refused(refusal: Refusal) -> Response:
    if refusal.status == 429:
        body = "<p>Too many failed logins from this address; try again later.</p>"
    else:
        body = ("<p>Log in with your registry user name and password to see what you may pull, "
                'or <a href="/ui/">browse as anonymous</a>.</p>')
    return _page("log in · sealedreg", "<header><h1>sealedreg</h1></header>" + body, refusal.status,
                 dict(refusal.headers or {}))


def _browser(request: Request) -> Browser:
    return request.app.state.browser


# ---------------------------------------------------------------- rendering
def _page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    doc = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")
    return HTMLResponse(doc, status_code=status, headers={**HEADERS, **(headers or {})})


def _header(viewer: Viewer) -> str:
    if viewer.identity is None:
        who = "Auth is off: every repository is shown."
    elif viewer.identity.subject is None:
        who = 'Anonymous: showing what anyone may pull. <a id="login" href="/ui/?login=1">Log in</a>'
    else:
        who = f'Logged in as <b id="user">{e(viewer.identity.subject)}</b>: showing what you may pull.'
    return (f'<header><h1><a href="/ui/">sealedreg</a></h1>'
            f'<p class="muted" id="viewer">{who}</p></header>')


def _overview(data: Overview) -> str:
    out = [f'<section id="summary"><p>Repositories shown reference <b>{_size(data.referenced)}</b>; '
           f'stored once per dedupe domain, that is <b>{_size(data.stored)}</b>, so dedupe saved '
           f'<b id="saved">{_size(data.saved)}</b>.</p>'
           '<p class="muted">Saved = bytes the shown repositories reference (every blob and manifest each '
           'holds) minus the bytes stored for them, each blob or manifest once per dedupe domain. '
           'Sizes are plaintext bytes as pushed.</p></section>']
    out.append('<section id="namespaces"><h2>Namespaces</h2>')
    if not data.namespaces:
        out.append("<p>Nothing here you may pull.</p>")
    for ns in data.namespaces:
        out.append(_namespace(ns))
    out.append("</section>")
    out.append('<section id="shared"><h2>Shared blobs</h2>')
    if data.shared:
        out.append('<table><thead><tr><th>digest</th><th class="n">size</th><th>held by</th>'
                   '<th class="n">stored</th><th class="n">saved</th></tr></thead><tbody>')
        for blob in data.shared:
            out.append(f'<tr><td><code>{e(blob.digest)}</code></td><td class="n">{_size(blob.size)}</td>'
                       f'<td>{", ".join(_repo_link(r) for r in blob.repositories)}</td>'
                       f'<td class="n">{blob.copies}×</td><td class="n">{_size(blob.saved)}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>No blob is held by more than one repository shown.</p>")
    out.append("</section>")
    return "".join(out)


def _namespace(ns: NamespaceView) -> str:
    badge = ' <span class="badge">configured</span>' if ns.configured else ""
    out = [f'<div class="namespace"><h3>{e(ns.name)}{badge}</h3>', _publish(ns.publish) if ns.repositories else ""]
    if ns.repositories:
        out.append('<table><thead><tr><th>repository</th><th class="n">tags</th><th class="n">manifests</th>'
                   '<th class="n">blobs</th><th class="n">size</th></tr></thead><tbody>')
        for repo in ns.repositories:
            out.append(f'<tr><td>{_repo_link(repo.name)}{_private(repo)}</td><td class="n">{len(repo.tags)}</td>'
                       f'<td class="n">{len(repo.manifests)}</td><td class="n">{len(repo.blobs)}</td>'
                       f'<td class="n">{_size(repo.size)}</td></tr>')
        out.append(f'</tbody><tfoot><tr><th colspan="4">total</th><th class="n">{_size(ns.size)}</th></tr>'
                   "</tfoot></table>")
    else:
        out.append('<p class="muted">No repository here that you may pull.</p>')
    out.append("</div>")
    return "".join(out)


def _publish(state: PublishState | None) -> str:
    if state is None:
        return '<p class="muted publish">Not published (no tree built).</p>'
    if state.ipns_name:
        via = f"IPNS <code>/ipns/{e(state.ipns_name)}</code>"
        if not state.ipns_current:
            via += " (the latest record no longer names this root)"
    else:
        via = f"DNSLink <code>/ipfs/{e(state.root)}</code>"
    return (f'<dl class="publish"><dt>root</dt><dd><code>{e(state.root)}</code></dd>'
            f"<dt>seq</dt><dd>{e(state.seq)}</dd><dt>expires</dt><dd>{_when(state.expires)}</dd>"
            f"<dt>published by</dt><dd>{via}</dd></dl>")


def _repository(repo: RepositoryView) -> str:
    out = [f'<p><a href="/ui/">All repositories</a></p><h2 id="repository">{e(repo.name)}{_private(repo)}</h2>'
           f'<p>Size: <b>{_size(repo.size)}</b> (every manifest and blob it holds)</p>', '<h3>Tags</h3>']
    if repo.tags:
        out.append('<table id="tags"><thead><tr><th>tag</th><th>digest</th><th class="n">size</th></tr></thead><tbody>')
        for tag in repo.tags:
            out.append(f"<tr><td>{e(tag.tag)}</td><td><code>{e(tag.digest)}</code></td>"
                       f'<td class="n">{_size(tag.total)}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No tags.</p>')
    out.append('<h3>Manifests</h3><p class="muted">Size: the manifest and every distinct blob (and child '
               "manifest) it references.</p>")
    if repo.manifests:
        out.append('<table id="manifests"><thead><tr><th>digest</th><th>type</th><th>tags</th>'
                   '<th class="n">manifest</th><th class="n">size</th></tr></thead><tbody>')
        for m in repo.manifests:
            out.append(_manifest(m))
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No manifests.</p>')
    out.append("<h3>Blobs</h3>")
    if repo.blobs:
        out.append('<table id="blobs"><thead><tr><th>digest</th><th class="n">size</th><th>dedupe domain</th>'
                   "<th>also held by</th></tr></thead><tbody>")
        for b in repo.blobs:
            shared = f"{b.shared_with} other repositor{'y' if b.shared_with == 1 else 'ies'}" if b.shared_with \
                else '<span class="muted">none</span>'
            out.append(f'<tr><td><code>{e(b.digest)}</code></td><td class="n">{_size(b.size)}</td>'
                       f"<td>{e(b.domain)}</td><td>{shared}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No blobs.</p>')
    return "".join(out)


def _manifest(m: ManifestView) -> str:
    artifact = m.artifact_type if m.artifact_type not in _IMAGE_CONFIGS else None  # an image's: nothing to add
    kind = e(m.media_type) + (f"<br>artifact: {e(artifact)}" if artifact else "")
    extra = ""
    if m.subject:
        extra += f"<dt>subject</dt><dd><code>{e(m.subject)}</code></dd>"
    extra += "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in sorted(m.annotations.items()))
    details = f"<dl>{extra}</dl>" if extra else ""
    return (f"<tr><td><code>{e(m.digest)}</code>{details}</td><td>{kind}</td><td>{_list(m.tags)}</td>"
            f'<td class="n">{_size(m.size)}</td><td class="n">{_size(m.total)}</td></tr>')


_IMAGE_CONFIGS = {None, "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}


def _repo_link(name: str) -> str:
    return f'<a href="/ui/r/{e(quote(name, safe="/"))}">{e(name)}</a>'


def _private(repo: RepositoryView) -> str:
    return ' <span class="badge private">private</span>' if repo.private else ""


def _list(items: Iterable[str]) -> str:
    return ", ".join(e(i) for i in items) or '<span class="muted">—</span>'


def _size(n: int | None) -> str:
    if n is None:
        return '<span class="muted" title="references unknown">?</span>'
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    text = f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
    return f'<span title="{n} bytes">{text}</span>'


def _when(ts: int | None) -> str:
    if ts is None:
        return '<span class="muted">never (an older tree)</span>'
    return e(datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
