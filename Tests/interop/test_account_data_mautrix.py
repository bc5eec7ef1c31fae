"""Account data, tags and read markers through mautrix-python, and their delivery in /sync
and /initialSync; every documented account-data error over raw HTTP."""
import uuid

import pytest
import requests
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.types import MatrixUserIdentifier, RoomCreatePreset

PASSWORD = "account data"


@pytest.fixture()
async def client(axon):
    name = "d" + uuid.uuid4().hex[:10]
    api = HTTPAPI(base_url=axon.base_url)
    client = ClientAPI(api=api)
    await api.request(Method.POST, Path.v3.register, {"username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy"}})
    login = await client.login(identifier=MatrixUserIdentifier(user=name), password=PASSWORD)
    client.mxid = login.user_id
    yield client
    await api.session.close()


async def test_account_data_and_tags_in_sync_and_initial_sync(client, axon):
    room = await client.create_room(preset=RoomCreatePreset.PRIVATE)
    since = (await client.sync(timeout=0))["next_batch"]
    await client.set_account_data("org.example.settings", {"theme": "dark"})
    await client.set_account_data("org.example.room", {"pinned": True}, room_id=room)
    await client.set_room_tag(room, "m.favourite", {"order": 0.1})
    assert (await client.get_account_data("org.example.settings"))["theme"] == "dark"
    assert "m.favourite" in (await client.get_room_tags(room)).tags
    event_id = await client.send_text(room, "marker")
    await client.set_fully_read_marker(room, event_id, read_receipt=event_id)

    synced = await client.sync(since=since, timeout=0)
    assert {"type": "org.example.settings", "content": {"theme": "dark"}} in synced["account_data"]["events"]
    room_data = {e["type"]: e["content"] for e in synced["rooms"]["join"][room]["account_data"]["events"]}
    assert room_data["org.example.room"] == {"pinned": True}
    assert room_data["m.tag"]["tags"]["m.favourite"] == {"order": 0.1}
    assert room_data["m.fully_read"] == {"event_id": event_id}

    initial = await client.api.request(Method.GET, Path.v3.initialSync)
    assert {"type": "org.example.settings", "content": {"theme": "dark"}} in initial["account_data"]
    entry = next(r for r in initial["rooms"] if r["room_id"] == room)
    assert {e["type"] for e in entry["account_data"]} >= {"org.example.room", "m.tag", "m.fully_read"}
    await client.remove_room_tag(room, "m.favourite")
    assert "m.favourite" not in (await client.get_room_tags(room)).tags


def test_account_data_errors(axon):
    def register(name):
        reply = requests.post(axon.base_url + "/_matrix/client/v3/register",
                              json={"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}})
        return reply.json()
    me = register("ad" + uuid.uuid4().hex[:8])
    other = register("ad" + uuid.uuid4().hex[:8])
    headers = {"Authorization": f"Bearer {me['access_token']}"}
    mine = f"{axon.base_url}/_matrix/client/v3/user/{me['user_id']}"
    theirs = f"{axon.base_url}/_matrix/client/v3/user/{other['user_id']}"

    def check(reply, status, errcode):
        assert (reply.status_code, reply.json()["errcode"]) == (status, errcode), reply.text

    check(requests.put(mine + "/account_data/t", headers=headers, data="{nope"), 400, "M_NOT_JSON")
    check(requests.put(mine + "/account_data/t", headers=headers, json=[1, 2]), 400, "M_BAD_JSON")
    check(requests.put(theirs + "/account_data/t", headers=headers, json={}), 403, "M_FORBIDDEN")
    check(requests.get(theirs + "/account_data/t", headers=headers), 403, "M_FORBIDDEN")
    check(requests.get(mine + "/account_data/never.set", headers=headers), 404, "M_NOT_FOUND")
    check(requests.put(mine + "/account_data/m.push_rules", headers=headers, json={}), 405, "M_BAD_JSON")
    check(requests.put(mine + "/rooms/!r:localhost/account_data/m.fully_read", headers=headers, json={}), 405, "M_BAD_JSON")
    check(requests.put(mine + "/rooms/not-a-room/account_data/t", headers=headers, json={}), 400, "M_INVALID_PARAM")
    check(requests.get(mine + "/rooms/not-a-room/account_data/t", headers=headers), 400, "M_INVALID_PARAM")
    check(requests.get(mine + "/rooms/!r:localhost/account_data/never.set", headers=headers), 404, "M_NOT_FOUND")
