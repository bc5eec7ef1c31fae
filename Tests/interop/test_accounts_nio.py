"""Accounts, sessions and devices through matrix-nio, as a nio-based client uses them."""
import pytest
from nio import (AsyncClient, DeleteDevicesAuthResponse, DeleteDevicesResponse, DevicesResponse,
                 LoginError, LoginInfoResponse, LoginResponse, LogoutResponse, ProfileGetResponse,
                 RegisterResponse, UpdateDeviceResponse, WhoamiError, WhoamiResponse)
from nio.responses import RegisterErrorResponse

PASSWORD = "interop password"


async def registered(axon, username, device_id=None):
    client = AsyncClient(axon.base_url, username, device_id=device_id)
    response = await client.register(username, PASSWORD, device_name="nio interop")
    assert isinstance(response, RegisterResponse), response
    return client


async def test_register_login_whoami_logout(axon, username):
    client = await registered(axon, username)
    try:
        assert client.user_id == f"@{username}:localhost"
        whoami = await client.whoami()
        assert isinstance(whoami, WhoamiResponse)
        assert whoami.user_id == client.user_id
        assert whoami.device_id == client.device_id

        info = await client.login_info()
        assert isinstance(info, LoginInfoResponse)
        assert "m.login.password" in info.flows

        second = AsyncClient(axon.base_url, username)
        login = await second.login(PASSWORD, device_name="second device")
        assert isinstance(login, LoginResponse), login
        assert login.device_id != client.device_id
        assert isinstance(await second.logout(), LogoutResponse)
        # The logged-out token no longer works, the other session still does.
        second.access_token = login.access_token
        stale = await second.whoami()
        assert isinstance(stale, WhoamiError)
        assert stale.status_code == "M_UNKNOWN_TOKEN"
        assert isinstance(await client.whoami(), WhoamiResponse)
        await second.close()
    finally:
        await client.close()


async def test_registration_errors(axon, username):
    client = await registered(axon, username)
    await client.close()
    again = AsyncClient(axon.base_url, username)
    taken = await again.register(username, PASSWORD)
    assert isinstance(taken, RegisterErrorResponse)
    assert taken.status_code == "M_USER_IN_USE"
    invalid = await again.register("Not Valid!", PASSWORD)
    assert isinstance(invalid, RegisterErrorResponse)
    assert invalid.status_code == "M_INVALID_USERNAME"
    await again.close()


async def test_wrong_password(axon, username):
    await (await registered(axon, username)).close()
    client = AsyncClient(axon.base_url, username)
    response = await client.login("not the password")
    assert isinstance(response, LoginError)
    assert response.status_code == "M_FORBIDDEN"
    await client.close()


async def test_devices_rename_and_delete_with_password(axon, username):
    client = await registered(axon, username, device_id="NIOMAIN")
    other = AsyncClient(axon.base_url, username, device_id="NIOOTHER")
    assert isinstance(await other.login(PASSWORD), LoginResponse)
    try:
        devices = await client.devices()
        assert isinstance(devices, DevicesResponse)
        assert {d.id for d in devices.devices} == {"NIOMAIN", "NIOOTHER"}

        renamed = await client.update_device("NIOOTHER", {"display_name": "Renamed"})
        assert isinstance(renamed, UpdateDeviceResponse)
        devices = await client.devices()
        assert {d.id: d.display_name for d in devices.devices}["NIOOTHER"] == "Renamed"

        challenge = await client.delete_devices(["NIOOTHER"])
        assert isinstance(challenge, DeleteDevicesAuthResponse)
        auth = {"type": "m.login.password", "session": challenge.session,
                "identifier": {"type": "m.id.user", "user": username}, "password": PASSWORD}
        assert isinstance(await client.delete_devices(["NIOOTHER"], auth), DeleteDevicesResponse)
        assert {d.id for d in (await client.devices()).devices} == {"NIOMAIN"}
        assert isinstance(await other.whoami(), WhoamiError)
    finally:
        await client.close()
        await other.close()


async def test_profile_displayname(axon, username):
    client = await registered(axon, username)
    try:
        await client.set_displayname("Interop Person")
        profile = await client.get_profile()
        assert isinstance(profile, ProfileGetResponse)
        assert profile.displayname == "Interop Person"
    finally:
        await client.close()


async def test_logout_all(axon, username):
    client = await registered(axon, username)
    other = AsyncClient(axon.base_url, username)
    await other.login(PASSWORD)
    assert isinstance(await client.logout(all_devices=True), LogoutResponse)
    assert isinstance(await other.whoami(), WhoamiError)
    await client.close()
    await other.close()
