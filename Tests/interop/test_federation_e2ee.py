"""End-to-end encryption across servers: a matrix-nio client on Axon and one on a real
Synapse share an encrypted room. Keys are queried and claimed over federation
(/user/keys/query, /user/keys/claim), the room key travels as a federated to-device message
(m.direct_to_device), and a message decrypts on both sides."""
import asyncio
import tempfile
import time
import uuid

import pytest
import requests
from nio import AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent, RoomMessageText

from synapse_peer import axon_and_synapse, synapse_available

pytestmark = pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse")

PASSWORD = "e2ee password"


@pytest.fixture(scope="module")
def peers():
    yield from axon_and_synapse()


async def encrypted_client(base_url):
    name = "e" + uuid.uuid4().hex[:10]
    client = AsyncClient(base_url, name, store_path=tempfile.mkdtemp(prefix="nio-store-"),
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                                 max_timeouts=3, request_timeout=30))
    await client.register(name, PASSWORD)
    login = await client.login(PASSWORD, device_name="federation interop")
    assert isinstance(login, LoginResponse), login
    if client.should_upload_keys:
        await client.keys_upload()
    return client


async def sync_until(client, predicate, seconds=30, to_device=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        response = await client.sync(timeout=1000)
        if to_device is not None:
            to_device.extend(getattr(response, "to_device_events", []))
        if predicate(response):
            return response
    raise AssertionError("not seen within %s s" % seconds)


def bodies(response, room_id, kind=RoomMessageText):
    room = response.rooms.join.get(room_id) if hasattr(response, "rooms") else None
    if room is None:
        return []
    return [event.body if kind is RoomMessageText else event for event in room.timeline.events if isinstance(event, kind)]


@pytest.mark.parametrize("version", ["10", "11", "12"])
async def test_an_encrypted_conversation_between_axon_and_synapse(peers, version):
    # Bounded: a client library that retries forever must not hold up the whole run.
    await asyncio.wait_for(conversation(*peers, version), timeout=120)


async def conversation(axon, synapse, version):
    alice, bob = await encrypted_client(axon.base_url), await encrypted_client(synapse.base_url)
    try:
        created = await alice.room_create(
            room_version=version, invite=[bob.user_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        room = created.room_id
        assert room, created
        await sync_until(bob, lambda response: room in getattr(response, "rooms", None).invite)
        joined = await bob.join(room)
        assert getattr(joined, "room_id", None) == room, joined
        await sync_until(alice, lambda response: bob.user_id in alice.rooms[room].users if room in alice.rooms else False)
        await bob.sync(timeout=0)

        # Alice's client asks Axon for Bob's keys and a one-time key (over federation), then
        # sends the room key to his device as a federated to-device message.
        sent = await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "secret across servers"},
                                     ignore_unverified_devices=True)
        assert getattr(sent, "event_id", None), sent
        got = await sync_until(bob, lambda response: "secret across servers" in bodies(response, room))
        assert not bodies(got, room, MegolmEvent), "every message decrypted"

        # And back: Synapse asks Axon for Alice's keys; the room key arrives at Axon over federation.
        reply = await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "reply across servers"},
                                    ignore_unverified_devices=True)
        assert getattr(reply, "event_id", None), reply
        arrived = []
        back = await sync_until(alice, lambda response: "reply across servers" in bodies(response, room), to_device=arrived)
        assert not bodies(back, room, MegolmEvent)
        # The room key came over federation once: one olm message from Bob reached Alice.
        assert len([event for event in arrived if event.sender == bob.user_id]) == 1, arrived

        # Bob's device list is tracked (he shares a room with Alice): with Synapse down, Axon
        # still answers his keys, from its copy, and names no failure.
        synapse.pause()
        try:
            keys = requests.post(axon.base_url + "/_matrix/client/v3/keys/query", json={"device_keys": {bob.user_id: []}},
                                 headers={"Authorization": f"Bearer {alice.access_token}"}, timeout=30).json()
        finally:
            synapse.restart()
        assert bob.device_id in keys["device_keys"].get(bob.user_id, {}), keys
        assert keys["failures"] == {}, keys
    finally:
        await alice.close()
        await bob.close()
