"""A real application service, built on mautrix's appservice module from PyPI, on Axon: it
is registered by a registration file, receives a user's message in a transaction, answers
as a puppet through user_id masquerading, gets typing and receipts as ephemeral events,
makes a puppet when Axon asks about it, and pings."""
import asyncio
import os
import tempfile
import uuid

import requests
from mautrix.appservice import AppService

from conftest import AxonProcess, free_port
from test_admin_synadm import authorized, login, user


def registration(port, token):
    return f"""id: "mx"
url: "http://127.0.0.1:{port}"
as_token: "as-{token}"
hs_token: "hs-{token}"
sender_localpart: "_mx_bot"
namespaces:
  users:
    - exclusive: true
      regex: "@_mx_.*:localhost"
  aliases:
    - exclusive: true
      regex: "#_mx_.*:localhost"
  rooms: []
rate_limited: false
receive_ephemeral: true
"""


def start_axon(port, token):
    directory = tempfile.mkdtemp(prefix="axon-as-")
    path = os.path.join(directory, "registration.yaml")
    with open(path, "w") as file:
        file.write(registration(port, token))
    config = os.path.join(directory, "axon.yaml")
    with open(config, "w") as file:
        file.write(f"app_service_config_files: ['{path}']\n")
    return AxonProcess("--config", config)


async def scenario(axon, port, token):
    received = asyncio.Queue()
    queried = []

    async def query_user(user_id):
        queried.append(user_id)
        await service.intent.user(user_id).ensure_registered()
        return {"created": True}  # mautrix answers 404 for a falsy result

    service = AppService(server=axon.base_url, domain="localhost", as_token=f"as-{token}", hs_token=f"hs-{token}",
                         bot_localpart="_mx_bot", id="mx", query_user=query_user, ephemeral_events=True,
                         state_store=None, log="mx-test")
    service.state_store.path = os.path.join(axon.data_dir, "mx-state.json")

    @service.matrix_event_handler
    async def on_event(event):
        await received.put(event)

    await service.start(host="127.0.0.1", port=port)
    try:
        assert await service.ping_self("ping-1") >= 0

        alice = user(axon, "alice" + uuid.uuid4().hex[:6])
        alice_token = login(axon, alice)
        room_id = requests.post(axon.base_url + "/_matrix/client/v3/createRoom", timeout=30, headers=authorized(alice_token),
                                json={"preset": "public_chat"}).json()["room_id"]
        puppet = "@_mx_puppet:localhost"
        await service.intent.user(puppet).ensure_registered()
        await service.intent.user(puppet).join_room(room_id)
        requests.put(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1", timeout=30,
                     headers=authorized(alice_token), json={"msgtype": "m.text", "body": "hello bridge"})

        # The transaction brings alice's message; the puppet answers through masquerading.
        message = None
        while message is None:
            event = await asyncio.wait_for(received.get(), timeout=30)
            if str(event.type) == "m.room.message" and event.sender == alice:
                message = event
        assert message.content.body == "hello bridge"
        await service.intent.user(puppet).send_text(room_id, "hello from the other side")
        history = requests.get(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=10", timeout=30,
                               headers=authorized(alice_token)).json()["chunk"]
        reply = next(event for event in history if event["sender"] == puppet and event["type"] == "m.room.message")
        assert reply["content"]["body"] == "hello from the other side"

        # Typing and a read receipt in the room arrive as ephemeral events (MSC2409).
        requests.put(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/typing/{alice}", timeout=30,
                     headers=authorized(alice_token), json={"typing": True, "timeout": 30000})
        requests.post(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{message.event_id}", timeout=30,
                      headers=authorized(alice_token), json={})
        seen = set()
        while not {"m.typing", "m.receipt"} <= seen:
            event = await asyncio.wait_for(received.get(), timeout=30)
            kind = str(event.type)
            if kind == "m.typing" and alice in event.content.user_ids:
                seen.add(kind)
            if kind == "m.receipt" and message.event_id in event.content:
                seen.add(kind)

        # Asking about an unknown user of the namespace makes the service create it.
        fresh = "@_mx_" + uuid.uuid4().hex[:6] + ":localhost"
        # (In a thread: the service answers Axon's query on this event loop.)
        profile = await asyncio.to_thread(requests.get, axon.base_url + f"/_matrix/client/v3/profile/{fresh}", timeout=30)
        assert profile.status_code == 200, profile.text
        assert queried == [fresh]
    finally:
        await service.stop()


def test_mautrix_appservice_bridges_a_room():
    port = free_port()
    token = uuid.uuid4().hex
    axon = start_axon(port, token)
    try:
        asyncio.run(scenario(axon, port, token))
    finally:
        axon.stop()
