"""The same account surface through mautrix-python, plus raw protocol errors."""
import hashlib
import hmac

import pytest
import requests
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.errors import MatrixRequestError, MForbidden, MUnknownToken
from mautrix.types import MatrixUserIdentifier

from conftest import SHARED_SECRET

PASSWORD = "mautrix password"


async def register(api, username):
    body = {"username": username, "password": PASSWORD}
    try:
        await api.request(Method.POST, Path.v3.register, body)
        raise AssertionError("expected a UIA challenge")
    except MatrixRequestError as challenge:
        assert challenge.http_status == 401
        session = challenge.json["session"] if hasattr(challenge, "json") else None
    body["auth"] = {"type": "m.login.dummy", **({"session": session} if session else {})}
    return await api.request(Method.POST, Path.v3.register, body)


@pytest.fixture()
async def client(axon):
    api = HTTPAPI(base_url=axon.base_url)
    client = ClientAPI(api=api)
    yield client
    await api.session.close()


async def test_versions_login_whoami(client, username):
    versions = await client.versions()
    assert versions.supports("v1.1")
    registered = await register(client.api, username)
    assert registered["user_id"] == f"@{username}:localhost"
    login = await client.login(identifier=MatrixUserIdentifier(user=username),
                               password=PASSWORD, device_name="mautrix")
    assert login.user_id == registered["user_id"]
    whoami = await client.whoami()
    assert whoami.user_id == login.user_id
    assert whoami.device_id == login.device_id
    await client.logout()
    client.api.token = login.access_token
    with pytest.raises(MUnknownToken):
        await client.whoami()


async def test_wrong_password_is_forbidden(client, username):
    await register(client.api, username)
    with pytest.raises(MForbidden):
        await client.login(identifier=MatrixUserIdentifier(user=username),
                           password="wrong")


async def test_displayname_roundtrip(client, username):
    await register(client.api, username)
    login = await client.login(identifier=MatrixUserIdentifier(user=username),
                               password=PASSWORD)
    client.mxid = login.user_id
    await client.set_displayname("Mau Trix")
    assert await client.get_displayname(login.user_id) == "Mau Trix"


def test_error_codes_over_raw_http(axon, username):
    base = axon.base_url + "/_matrix/client/v3"
    unknown = requests.get(base + "/definitely/not/here")
    assert (unknown.status_code, unknown.json()["errcode"]) == (404, "M_UNRECOGNIZED")
    wrong_method = requests.delete(base + "/login")
    assert (wrong_method.status_code, wrong_method.json()["errcode"]) == (405, "M_UNRECOGNIZED")
    not_json = requests.post(base + "/login", data="{oops", headers={"Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json()["errcode"]) == (400, "M_NOT_JSON")
    bad_json = requests.post(base + "/login", json=["a list"])
    assert (bad_json.status_code, bad_json.json()["errcode"]) == (400, "M_BAD_JSON")
    missing = requests.get(base + "/account/whoami")
    assert (missing.status_code, missing.json()["errcode"]) == (401, "M_MISSING_TOKEN")
    bad = requests.get(base + "/account/whoami", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["errcode"], bad.json()["soft_logout"]) == (401, "M_UNKNOWN_TOKEN", False)
    too_large = requests.post(base + "/login", data=b"{" + b" " * (11 * 1024 * 1024) + b"}")
    assert (too_large.status_code, too_large.json()["errcode"]) == (413, "M_TOO_LARGE")
    preflight = requests.options(base + "/login", headers={"Origin": "https://app.element.io",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_shared_secret_admin_registration(axon, username):
    url = axon.base_url + "/_synapse/admin/v1/register"
    nonce = requests.get(url).json()["nonce"]
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    mac.update(f"{nonce}\x00{username}\x00pw\x00admin".encode())
    reply = requests.post(url, json={"nonce": nonce, "username": username, "password": "pw", "admin": True,
                                     "mac": mac.hexdigest()})
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    whoami = requests.get(axon.base_url + "/_matrix/client/v3/account/whoami",
                          headers={"Authorization": f"Bearer {token}"})
    assert whoami.json()["user_id"] == f"@{username}:localhost"


def test_rate_limits_are_on_by_default(rate_limited_axon):
    base = rate_limited_axon.base_url + "/_matrix/client/v3"
    statuses = []
    for _ in range(8):
        reply = requests.post(base + "/login", json={"type": "m.login.password", "password": "x",
                                                     "identifier": {"type": "m.id.user", "user": "nobody"}})
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            assert reply.json()["errcode"] == "M_LIMIT_EXCEEDED"
            assert reply.json()["retry_after_ms"] > 0
    assert 429 in statuses
