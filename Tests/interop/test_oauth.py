"""The OAuth 2.0 API against real clients: Authlib does dynamic registration (through its
session), the authorization code grant with PKCE, refresh and revocation, and uses the token
on /sync; headless Chromium (Debian's) drives the sign-in, consent, device and account pages
through Playwright, with screenshots kept as test artefacts.

Nothing here leaves the machine: Chromium resolves no name but localhost and every request
it makes to another host is aborted.
"""
import os
import re
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.common.security import generate_token

from conftest import ROOT, AxonProcess

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test server speaks http on loopback
PASSWORD = "correct horse battery"
ARTIFACTS = os.environ.get("AXON_TEST_ARTIFACTS", os.path.join(ROOT, ".build", "test-artifacts", "oauth"))
CHROMIUM = os.environ.get("AXON_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def server():
    process = AxonProcess("--no-rate-limits")
    yield process
    process.stop()


def register_user(server, name):
    session = requests.post(server.base_url + "/_matrix/client/v3/register", json={"username": name, "password": PASSWORD})
    reply = requests.post(server.base_url + "/_matrix/client/v3/register", json={
        "username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy", "session": session.json()["session"]}})
    assert reply.status_code == 200, reply.text


def metadata(server):
    reply = requests.get(server.base_url + "/_matrix/client/v1/auth_metadata")
    assert reply.status_code == 200
    return reply.json()


def register_client(session, meta, grant_types=("authorization_code", "refresh_token")):
    # RFC 7591 registration is unauthenticated: the Authlib session sends it without a token.
    extra = {"withhold_token": True} if isinstance(session, OAuth2Session) else {}
    reply = session.post(meta["registration_endpoint"], **extra, json={
        "client_name": "Authlib interop", "client_uri": "https://interop.example.org/",
        "redirect_uris": ["http://localhost/callback"], "application_type": "native",
        "token_endpoint_auth_method": "none", "response_types": ["code"], "grant_types": list(grant_types),
    })
    assert reply.status_code == 201, reply.text
    return reply.json()["client_id"]


def hidden_fields(html):
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def test_authlib_authorization_code_refresh_and_revocation(server):
    name = "oauth_" + uuid.uuid4().hex[:8]
    register_user(server, name)
    meta = metadata(server)
    assert "S256" in meta["code_challenge_methods_supported"]
    device_id = "AUTHLIB" + uuid.uuid4().hex[:6].upper()
    scope = f"urn:matrix:client:api:* urn:matrix:client:device:{device_id}"
    client_id = register_client(OAuth2Session(), meta)
    # A loopback redirect URI: any port is accepted (RFC 8252); nothing needs to listen.
    oauth = OAuth2Session(client_id, scope=scope, redirect_uri="http://localhost:49152/callback",
                          code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)

    # The browser's part, with a cookie-keeping session: sign in, then consent.
    browser = requests.Session()
    consent_path = browser.get(url, allow_redirects=False).headers["location"]
    login = browser.get(server.base_url + consent_path)
    assert 'action="/_axon/login"' in login.text
    fields = hidden_fields(login.text)
    signed_in = browser.post(server.base_url + "/_axon/login", data={**fields, "username": name, "password": PASSWORD},
                             allow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    consent = browser.get(server.base_url + signed_in.headers["location"])
    assert "Authlib interop" in consent.text
    answer = browser.post(server.base_url + consent_path, data={**hidden_fields(consent.text), "action": "allow"},
                          allow_redirects=False)
    callback = answer.headers["location"]
    assert callback.startswith("http://localhost:49152/callback?")

    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["scope"] == scope
    whoami = oauth.get(server.base_url + "/_matrix/client/v3/account/whoami").json()
    assert (whoami["user_id"], whoami["device_id"]) == (f"@{name}:localhost", device_id)
    assert oauth.get(server.base_url + "/_matrix/client/v3/sync", params={"timeout": 0}).status_code == 200

    old_access = token["access_token"]
    refreshed = oauth.refresh_token(meta["token_endpoint"])
    assert refreshed["access_token"] != old_access and refreshed["refresh_token"] != token["refresh_token"]
    assert oauth.get(server.base_url + "/_matrix/client/v3/sync", params={"timeout": 0}).status_code == 200
    # The first use of the new pair ended the old access token.
    assert requests.get(server.base_url + "/_matrix/client/v3/account/whoami",
                        headers={"Authorization": f"Bearer {old_access}"}).status_code == 401

    revoked = oauth.revoke_token(meta["revocation_endpoint"], refreshed["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200
    gone = oauth.get(server.base_url + "/_matrix/client/v3/account/whoami")
    assert gone.status_code == 401 and gone.json()["errcode"] == "M_UNKNOWN_TOKEN"


def test_authlib_refuses_a_wrong_verifier(server):
    name = "oauth_" + uuid.uuid4().hex[:8]
    register_user(server, name)
    meta = metadata(server)
    client_id = register_client(OAuth2Session(), meta)
    oauth = OAuth2Session(client_id, scope="urn:matrix:client:api:* urn:matrix:client:device:WRONGPKCE",
                          redirect_uri="http://localhost/callback", code_challenge_method="S256", token_endpoint_auth_method="none")
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(64))
    browser = requests.Session()
    consent_path = browser.get(url, allow_redirects=False).headers["location"]
    login = browser.get(server.base_url + consent_path)
    signed_in = browser.post(server.base_url + "/_axon/login",
                             data={**hidden_fields(login.text), "username": name, "password": PASSWORD}, allow_redirects=False)
    consent = browser.get(server.base_url + signed_in.headers["location"])
    callback = browser.post(server.base_url + consent_path, data={**hidden_fields(consent.text), "action": "allow"},
                            allow_redirects=False).headers["location"]
    with pytest.raises(Exception) as refused:
        oauth.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=generate_token(64))
    assert "invalid_grant" in str(refused.value)


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (scripts/install-browser installs Debian's)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"])
        yield browser
        browser.close()


def loopback_only(route):
    host = urlparse(route.request.url).hostname
    if host in ("localhost", "127.0.0.1"):
        route.continue_()
    else:
        route.abort()


def new_page(chromium):
    context = chromium.new_context(viewport={"width": 900, "height": 800})
    context.route("**/*", loopback_only)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    return context, page, violations


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name + ".png"), full_page=True)


def test_sign_in_and_consent_in_chromium(server, chromium):
    name = "chrome_" + uuid.uuid4().hex[:8]
    register_user(server, name)
    meta = metadata(server)
    client_id = register_client(requests.Session(), meta)
    device_id = "CHROMIUM" + uuid.uuid4().hex[:4].upper()
    oauth = OAuth2Session(client_id, scope=f"urn:matrix:client:api:* urn:matrix:client:device:{device_id}",
                          redirect_uri="http://localhost:49153/callback", code_challenge_method="S256",
                          token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    context, page, violations = new_page(chromium)
    callbacks = []

    def catch_callback(route):
        callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>back in the app</h1>")
    context.route("http://localhost:49153/**", catch_callback)

    page.goto(url)
    assert page.locator("h1").inner_text().startswith("Sign in to")
    shot(page, "1-sign-in")
    page.fill("#username", name)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.content()
    shot(page, "2-sign-in-refused")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#client-name")
    assert page.locator("#client-name").inner_text() == "Authlib interop"
    assert device_id in page.content()
    shot(page, "3-consent")
    page.click("#allow")
    page.wait_for_url("http://localhost:49153/callback**")
    assert callbacks, "the browser was not sent back to the client"
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=callbacks[-1], code_verifier=verifier)
    assert oauth.get(server.base_url + "/_matrix/client/v3/account/whoami").json()["device_id"] == device_id

    # The account page lists the new session with its app, and ends it.
    page.goto(meta["account_management_uri"] + f"?action=org.matrix.device_view&device_id={device_id}")
    assert "Authlib interop" in page.locator(f"#device-{device_id}").inner_text()
    shot(page, "4-account")
    page.locator(f"#device-{device_id} button").click()
    page.wait_for_selector("#notice")
    shot(page, "5-session-ended")
    assert oauth.get(server.base_url + "/_matrix/client/v3/account/whoami").status_code == 401
    assert token["access_token"]
    assert violations == [], violations
    context.close()


def test_device_grant_approved_in_chromium(server, chromium):
    name = "tv_" + uuid.uuid4().hex[:8]
    register_user(server, name)
    meta = metadata(server)
    client_id = register_client(requests.Session(), meta, grant_types=("urn:ietf:params:oauth:grant-type:device_code", "refresh_token"))
    started = requests.post(meta["device_authorization_endpoint"], data={
        "client_id": client_id, "scope": "urn:matrix:client:api:* urn:matrix:client:device:TVSET"}).json()
    context, page, violations = new_page(chromium)
    page.goto(started["verification_uri"])
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#user_code")
    shot(page, "6-device-code-entry")
    page.fill("#user_code", started["user_code"].lower().replace("-", " "))
    page.click("button[type=submit]")
    page.wait_for_selector("#allow")
    shot(page, "7-device-consent")
    page.click("#allow")
    page.wait_for_selector("#outcome")
    shot(page, "8-device-signed-in")
    tokens = requests.post(meta["token_endpoint"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": started["device_code"], "client_id": client_id})
    assert tokens.status_code == 200, tokens.text
    whoami = requests.get(server.base_url + "/_matrix/client/v3/account/whoami",
                          headers={"Authorization": "Bearer " + tokens.json()["access_token"]}).json()
    assert whoami["device_id"] == "TVSET"
    assert violations == [], violations
    context.close()
