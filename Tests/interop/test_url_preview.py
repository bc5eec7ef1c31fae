"""URL previews against a page server the test starts on loopback (allowed explicitly: the
interop Axon may reach 127.0.0.0/8 and nothing else). Open Graph and Twitter tags and the
title, the page's image stored as media, redirects followed, each hop re-checked, and one
fetch per URL and hour."""
import http.server
import threading

import pytest
import requests

from test_federation_media import png

PAGE = b"""<!doctype html><html><head>
<title>Ignored when og:title is set</title>
<meta property="og:title" content="Axon &amp; friends">
<meta property="og:description" content='A page about "previews"'>
<meta property="og:image" content="/picture.png">
<meta name="twitter:card" content="summary">
</head><body><meta property="og:title" content="not in the head"></body></html>"""

TITLED = b"""<html><head><title> Just a title </title>
<meta name="twitter:description" content="from twitter"></head><body></body></html>"""


class PageServer(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):
        PageServer.hits[self.path] = PageServer.hits.get(self.path, 0) + 1
        routes = {
            "/page.html": (200, "text/html; charset=utf-8", PAGE),
            "/titled.html": (200, "text/html", TITLED),
            "/picture.png": (200, "image/png", png(120, 80)),
            "/file.bin": (200, "application/octet-stream", b"\0" * 10),
        }
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/page.html")
            self.end_headers()
            return
        if self.path == "/away":
            # A redirect off loopback: refused before any connection is made.
            self.send_response(302)
            self.send_header("Location", "http://10.255.255.1/secret")
            self.end_headers()
            return
        status, kind, body = routes.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def preview(axon, token, url, path="/_matrix/client/v1/media/preview_url"):
    return requests.get(axon.base_url + path, params={"url": url}, headers={"Authorization": f"Bearer {token}"}, timeout=60)



def test_a_page_preview_with_its_image(axon, pages):
    from synapse_peer import register
    _, token = register(axon.base_url)
    reply = preview(axon, token, pages + "/hop")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["og:title"] == "Axon & friends"
    assert body["og:description"] == 'A page about "previews"'
    assert body["og:url"] == pages + "/page.html"
    assert body["og:image"].startswith("mxc://")
    assert body["og:image:type"] == "image/png" and body["matrix:image:size"] > 0
    assert (body["og:image:width"], body["og:image:height"]) == (120, 80)
    image = requests.get(f"{axon.base_url}/_matrix/client/v1/media/download/{body['og:image'][len('mxc://'):]}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert image.status_code == 200 and image.content == png(120, 80)

    # Cached per URL and hour: asked again (also on the legacy path), the page is not fetched again.
    fetched = PageServer.hits.get("/page.html", 0)
    again = preview(axon, token, pages + "/hop", path="/_matrix/media/v3/preview_url")
    assert again.status_code == 200 and again.json() == body
    assert PageServer.hits.get("/page.html", 0) == fetched


def test_fallbacks_refusals_and_errors(axon, pages):
    from synapse_peer import register
    _, token = register(axon.base_url)
    titled = preview(axon, token, pages + "/titled.html").json()
    assert titled["og:title"] == "Just a title" and titled["og:description"] == "from twitter"
    picture = preview(axon, token, pages + "/picture.png").json()
    assert picture["og:image"].startswith("mxc://") and picture["og:image:width"] == 120

    away = preview(axon, token, pages + "/away")
    assert away.status_code == 403 and away.json()["errcode"] == "M_FORBIDDEN", away.text
    missing = preview(axon, token, pages + "/nothing-here")
    assert missing.status_code == 502 and missing.json()["errcode"] == "M_UNKNOWN"
    binary = preview(axon, token, pages + "/file.bin")
    assert binary.status_code == 502
    for bad in ["ftp://127.0.0.1/", "not a url", ""]:
        refused = preview(axon, token, bad)
        assert refused.status_code == 400 and refused.json()["errcode"] in ("M_INVALID_PARAM", "M_MISSING_PARAM"), (bad, refused.text)
    assert requests.get(axon.base_url + "/_matrix/client/v1/media/preview_url", params={"url": pages + "/page.html"},
                        timeout=30).status_code == 401
