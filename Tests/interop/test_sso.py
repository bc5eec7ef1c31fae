"""Single sign-on through a real OpenID Connect provider: oidc-provider-mock (PyPI) runs on
loopback, Axon discovers it, and a login through `m.login.sso` ends with a working access
token; the same provider confirms user-interactive auth (`m.login.sso`) and signs in the
OAuth pages. The provider, like everything here, is on 127.0.0.1.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from conftest import AxonProcess, free_port

ALLOWED = "http://localhost:49155/"


@pytest.fixture(scope="module")
def provider():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--host", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("oidc-provider-mock did not start")
    yield issuer
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def axon(provider):
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"""
oidc_providers:
  - idp_id: mock
    idp_name: Mock IdP
    issuer: "{provider}"
    client_id: axon-interop
    client_secret: interop-secret
sso_redirect_allowlist: ["{ALLOWED}"]
""")
    config.close()
    server = AxonProcess("--no-rate-limits", "--config", config.name)
    yield server
    server.stop()
    os.unlink(config.name)


def web(axon):
    """The address browsers use: the one Axon names in its redirects (its public base URL),
    so that the cookie it set comes back."""
    return axon.base_url.replace("127.0.0.1", "localhost")


def new_user(provider, **claims):
    sub = "sub-" + uuid.uuid4().hex[:10]
    name = "sso" + uuid.uuid4().hex[:8]
    reply = requests.put(f"{provider}/users/{sub}", json={"preferred_username": name, "name": "SSO " + name, **claims})
    assert reply.status_code == 204, reply.text
    return sub, name


def through_provider(browser, start_url, sub, deny=False):
    """Follows the redirect to the provider, answers its form, and returns Axon's answer to the callback."""
    to_provider = browser.get(start_url, allow_redirects=False)
    assert to_provider.status_code in (302, 303), to_provider.text
    authorize = to_provider.headers["location"]
    assert urlparse(authorize).hostname == "127.0.0.1"
    form = {"action": "deny"} if deny else {"sub": sub}
    answer = browser.post(authorize, data=form, allow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    callback = answer.headers["location"]
    if deny and "state=" not in callback:
        # oidc-provider-mock leaves `state` out of its denial, which RFC 6749 §4.1.2.1
        # requires; a conforming provider sends it back, as added here. Without it the
        # callback is an unknown sign-in.
        assert browser.get(callback, allow_redirects=False).status_code == 400
        callback += "&state=" + parse_qs(urlparse(authorize).query)["state"][0]
    assert "/_axon/sso/callback" in callback
    return browser.get(callback, allow_redirects=False), callback


def test_login_flows_name_the_provider(axon):
    flows = requests.get(axon.base_url + "/_matrix/client/v3/login").json()["flows"]
    assert {"type": "m.login.sso", "identity_providers": [{"id": "mock", "name": "Mock IdP"}]} in flows


def test_an_sso_login_ends_with_a_working_token(axon, provider):
    sub, name = new_user(provider)
    browser = requests.Session()
    done, _ = through_provider(browser, web(axon) + f"/_matrix/client/v3/login/sso/redirect/mock?redirectUrl={ALLOWED}done", sub)
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(ALLOWED + "done?loginToken=")
    token = parse_qs(urlparse(location).query)["loginToken"][0]
    login = requests.post(axon.base_url + "/_matrix/client/v3/login", json={"type": "m.login.token", "token": token})
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    me = requests.get(axon.base_url + "/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {access}"}).json()
    assert me["user_id"] == f"@{name}:localhost"
    profile = requests.get(axon.base_url + f"/_matrix/client/v3/profile/@{name}:localhost").json()
    assert profile["displayname"] == "SSO " + name
    # The token is single use; the same subject signs in to the same account next time.
    assert requests.post(axon.base_url + "/_matrix/client/v3/login", json={"type": "m.login.token", "token": token}).status_code == 403
    again, _ = through_provider(requests.Session(), web(axon) + f"/_matrix/client/v3/login/sso/redirect?redirectUrl={ALLOWED}x", sub)
    second = parse_qs(urlparse(again.headers["location"]).query)["loginToken"][0]
    relogin = requests.post(axon.base_url + "/_matrix/client/v3/login", json={"type": "m.login.token", "token": second}).json()
    assert relogin["user_id"] == f"@{name}:localhost"


def test_a_redirect_not_in_the_allowlist_is_confirmed_first(axon, provider):
    sub, name = new_user(provider)
    page, _ = through_provider(requests.Session(), web(axon) + "/_matrix/client/v3/login/sso/redirect/mock?redirectUrl=https://app.example.org/cb", sub)
    assert page.status_code == 200
    assert "Continue to your app?" in page.text and "app.example.org" in page.text
    link = re.search(r'id="continue" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert link.startswith("https://app.example.org/cb?loginToken=")


def test_refusals_show_a_clear_page(axon, provider):
    sub, _ = new_user(provider)
    denied, _ = through_provider(requests.Session(), web(axon) + f"/_matrix/client/v3/login/sso/redirect/mock?redirectUrl={ALLOWED}", sub, deny=True)
    assert denied.status_code == 400 and "did not let you sign in" in denied.text
    # A callback opened in another browser than the one that started the sign-in is refused.
    browser = requests.Session()
    to_provider = browser.get(web(axon) + f"/_matrix/client/v3/login/sso/redirect/mock?redirectUrl={ALLOWED}", allow_redirects=False)
    callback = browser.post(to_provider.headers["location"], data={"sub": sub}, allow_redirects=False).headers["location"]
    assert requests.get(callback, allow_redirects=False).status_code == 403
    # That attempt is spent: its code may be in the wrong hands.
    assert browser.get(callback, allow_redirects=False).status_code == 400
    # And a callback is used once.
    done, callback = through_provider(browser, web(axon) + f"/_matrix/client/v3/login/sso/redirect/mock?redirectUrl={ALLOWED}", sub)
    assert done.status_code == 303
    assert browser.get(callback, allow_redirects=False).status_code == 400
    assert requests.get(axon.base_url + "/_matrix/client/v3/login/sso/redirect/nobody?redirectUrl=" + ALLOWED).status_code == 404
    assert requests.get(axon.base_url + "/_matrix/client/v3/login/sso/redirect/mock").json()["errcode"] == "M_MISSING_PARAM"
    script = requests.get(axon.base_url + "/_matrix/client/v3/login/sso/redirect/mock?redirectUrl=javascript:alert(1)")
    assert script.status_code == 400 and script.json()["errcode"] == "M_INVALID_PARAM"


def test_user_interactive_auth_through_the_provider(axon, provider):
    sub, name = new_user(provider)
    browser = requests.Session()
    done, _ = through_provider(browser, web(axon) + f"/_matrix/client/v3/login/sso/redirect/mock?redirectUrl={ALLOWED}", sub)
    token = parse_qs(urlparse(done.headers["location"]).query)["loginToken"][0]
    access = requests.post(axon.base_url + "/_matrix/client/v3/login", json={"type": "m.login.token", "token": token}).json()["access_token"]
    auth = {"Authorization": f"Bearer {access}"}
    capabilities = requests.get(axon.base_url + "/_matrix/client/v3/capabilities", headers=auth).json()["capabilities"]
    assert capabilities["m.get_login_token"] == {"enabled": True}
    challenge = requests.post(axon.base_url + "/_matrix/client/v1/login/get_token", headers=auth, json={})
    assert challenge.status_code == 401
    assert {"stages": ["m.login.sso"]} in challenge.json()["flows"]
    session = challenge.json()["session"]
    # The client cannot claim the stage itself.
    claimed = requests.post(axon.base_url + "/_matrix/client/v1/login/get_token", headers=auth,
                            json={"auth": {"type": "m.login.sso", "session": session}})
    assert claimed.status_code == 401 and "login_token" not in claimed.json()
    fallback = browser.get(web(axon) + f"/_matrix/client/v3/auth/m.login.sso/fallback/web?session={session}")
    start = re.search(r'id="idp-mock" href="([^"]+)"', fallback.text).group(1).replace("&amp;", "&")
    confirmed, _ = through_provider(browser, web(axon) + start, sub)
    assert confirmed.status_code == 200 and "Confirmed" in confirmed.text
    # The page tells an opener it is done (spec "Fallback"), with the only script its policy allows.
    script = re.search(r"<script>(.*)</script>", confirmed.text).group(1)
    assert "onAuthDone" in script and "authDone" in script
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in confirmed.headers["content-security-policy"]
    issued = requests.post(axon.base_url + "/_matrix/client/v1/login/get_token", headers=auth, json={"auth": {"session": session}})
    assert issued.status_code == 200, issued.text
    assert issued.json()["login_token"]


def test_the_oauth_sign_in_page_signs_in_through_the_provider(axon, provider):
    sub, name = new_user(provider)
    browser = requests.Session()
    page = browser.get(web(axon) + "/_axon/account")
    start = re.search(r'id="idp-mock" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    signed_in, _ = through_provider(browser, web(axon) + start, sub)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/_axon/account"
    account = browser.get(web(axon) + "/_axon/account")
    assert f"@{name}:localhost" in account.text
