"""What every HTTP response carries (security headers), and the widget script served compressed
and cacheable, over real HTTP to the real server."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chinwag.app import STATIC_DIR
from chinwag.testing import QUICKSTART, ServerThread, write_project

TOKEN = "an-admin-token-for-these-tests-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    folder = write_project(tmp_path_factory.mktemp("http") / "p", copy_from=QUICKSTART, config={"admin_token": TOKEN})
    with ServerThread(folder, demo=True) as running:
        yield running


@pytest.mark.parametrize("path, headers, status", [
    ("/healthz", {}, 200),
    ("/-/plugins.json", {}, 200),
    ("/-/admin/report.json", {"Authorization": f"Bearer {TOKEN}"}, 200),
    ("/-/admin/report.json", {}, 401),
    ("/widget.js", {}, 200),
    ("/", {}, 200),
    ("/no/such/page", {}, 404),
])
def test_every_response_carries_the_security_headers(server: ServerThread, path: str, headers: dict, status: int) -> None:
    response = httpx.get(server.url + path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain HTTP: HSTS would mean nothing


def test_a_page_keeps_its_own_policy_and_the_widget_stays_loadable_from_other_sites(server: ServerThread) -> None:
    page = httpx.get(server.url + "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]  # the demo page's own, strict CSP
    widget = httpx.get(server.url + "/widget.js", headers={"Origin": "https://www.example.com"})
    assert widget.headers["cross-origin-resource-policy"] == "cross-origin"
    assert widget.headers["access-control-allow-origin"] == "*"


def test_admin_answers_are_never_cached(server: ServerThread) -> None:
    report = httpx.get(server.url + "/-/admin/report.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert report.status_code == 200 and report.headers["cache-control"] == "no-store"
    assert httpx.get(server.url + "/widget.js").headers["cache-control"].startswith("public")


def test_hsts_over_https_behind_a_proxy(server: ServerThread) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback, as from the integrator's proxy.
    response = httpx.get(server.url + "/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.1"})
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_widget_is_gzipped_when_asked_and_revalidated_by_etag(server: ServerThread) -> None:
    from chinwag.widget_asset import lean_script

    source = lean_script((STATIC_DIR / "widget.js").read_bytes())  # sent without comments and indentation
    with httpx.stream("GET", server.url + "/widget.js", headers={"Accept-Encoding": "gzip"}) as response:
        sent = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip" and "accept-encoding" in response.headers["vary"].lower()
        assert response.headers["content-type"].startswith("text/javascript")
        etag = response.headers["etag"]
    assert gzip.decompress(sent) == source and len(sent) < len(source) / 2

    plain = httpx.get(server.url + "/widget.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == source and plain.headers["etag"] == etag
    refused = httpx.get(server.url + "/widget.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers

    again = httpx.get(server.url + "/widget.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    stale = httpx.get(server.url + "/widget.js", headers={"If-None-Match": '"an-older-version"'})
    assert stale.status_code == 200 and stale.content == source


def test_the_widget_is_sent_without_its_comments_and_indentation_and_nothing_else_changes() -> None:
    from chinwag.widget_asset import lean_script

    source = rb"""/* A header comment
 * over lines. */
(function () {
  // a whole-line comment
  var url = "https://example.com/*not a comment*/"; // a trailing comment stays
  /** A doc comment. */ var after = 1;
  /* one line */
    var pattern = /\/\/x/;

  return url + pattern;
})();
"""
    assert lean_script(source) == (b'(function () {\n'
                                   b'var url = "https://example.com/*not a comment*/"; // a trailing comment stays\n'
                                   b'var after = 1;\nvar pattern = /\\/\\/x/;\nreturn url + pattern;\n})();\n')
    widget = (STATIC_DIR / "widget.js").read_bytes()
    lean = lean_script(widget)
    assert len(lean) < len(widget) * 0.85 and b"\n//" not in lean and b"\n/*" not in lean
    assert lean.count(b"function ") == widget.count(b"function ")  # every function is still there
    assert len(gzip.compress(lean, compresslevel=9)) <= 15 * 1024  # the widget's budget, as visitors download it


def test_the_etag_is_the_contents_hash(tmp_path: Path) -> None:
    from chinwag.widget_asset import CompressedAsset

    script = tmp_path / "w.js"
    script.write_text("console.log(1)")
    asset = CompressedAsset(script, "text/javascript", {})
    first = asset.current().etag
    script.write_text("console.log(2)")
    import os
    os.utime(script, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    assert asset.current().etag != first
    script.write_text("console.log(1)")
    os.utime(script, ns=(2, 2))
    assert asset.current().etag == first
