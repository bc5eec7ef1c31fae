"""What users see of each other across servers, Axon ↔ a real Synapse, on room versions 10–12:
joins by a remote alias, display names in member events, the other server's room directory
(/publicRooms?server=), and typing notices, read receipts and presence both ways."""
import time
import uuid

import pytest

from synapse_peer import axon_and_synapse, call, quoted, register, synapse_available
from test_federation_synapse import sync_until

pytestmark = pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse")

VERSIONS = ["10", "11", "12"]


@pytest.fixture(scope="module")
def peers():
    yield from axon_and_synapse()


def ok(reply):
    assert reply.status_code == 200, reply.text
    return reply.json()


def user_with_name(base, name):
    user, token = register(base)
    ok(call(base, "PUT", f"/_matrix/client/v3/profile/{quoted(user)}/displayname", token, json={"displayname": name}))
    return user, token


def member_event(body, room_id, user):
    room = body.get("rooms", {}).get("join", {}).get(room_id, {})
    for event in room.get("state", {}).get("events", []) + room.get("timeline", {}).get("events", []):
        if event.get("type") == "m.room.member" and event.get("state_key") == user:
            return event
    return None


def ephemeral(body, room_id, kind):
    events = body.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
    return [event for event in events if event.get("type") == kind]


def shared_public_room(axon, synapse, version):
    """Bob (Synapse) publishes a room under an alias; Alice (Axon) finds and joins it by alias."""
    bob, bob_token = user_with_name(synapse.base_url, "Bob on Synapse")
    alice, alice_token = user_with_name(axon.base_url, "Alice on Axon")
    local = "r" + uuid.uuid4().hex[:8]
    room_id = ok(call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                      json={"preset": "public_chat", "room_version": version, "room_alias_name": local,
                            "visibility": "public", "name": f"Social v{version}"}))["room_id"]
    alias = f"#{local}:{synapse.server_name}"
    resolved = ok(call(axon.base_url, "GET", f"/_matrix/client/v3/directory/room/{quoted(alias)}", alice_token))
    assert resolved["room_id"] == room_id and synapse.server_name in resolved["servers"]
    joined = ok(call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(alias)}", alice_token, json={}))
    assert joined["room_id"] == room_id
    return room_id, (alice, alice_token), (bob, bob_token)


@pytest.mark.parametrize("version", VERSIONS)
def test_join_by_remote_alias_with_display_names_both_ways(peers, version):
    axon, synapse = peers
    room_id, (alice, alice_token), (bob, bob_token) = shared_public_room(axon, synapse, version)
    # Alice's join carries her Axon profile to Synapse, and Bob's member event his.
    seen = sync_until(synapse.base_url, bob_token, lambda body: member_event(body, room_id, alice))
    assert member_event(seen, room_id, alice)["content"].get("displayname") == "Alice on Axon"
    here = sync_until(axon.base_url, alice_token, lambda body: member_event(body, room_id, bob))
    assert member_event(here, room_id, bob)["content"].get("displayname") == "Bob on Synapse"
    # And the remote profile itself, asked of the other server.
    assert ok(call(axon.base_url, "GET", f"/_matrix/client/v3/profile/{quoted(bob)}", alice_token))["displayname"] == "Bob on Synapse"
    assert ok(call(synapse.base_url, "GET", f"/_matrix/client/v3/profile/{quoted(alice)}/displayname",
                   bob_token))["displayname"] == "Alice on Axon"


def test_each_servers_directory_is_browsable_from_the_other(peers):
    axon, synapse = peers
    alice, alice_token = register(axon.base_url)
    bob, bob_token = register(synapse.base_url)
    axon_room = ok(call(axon.base_url, "POST", "/_matrix/client/v3/createRoom", alice_token,
                        json={"preset": "public_chat", "visibility": "public", "name": "Listed on Axon", "topic": "findable"}))["room_id"]
    synapse_room = ok(call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                           json={"preset": "public_chat", "visibility": "public", "name": "Listed on Synapse"}))["room_id"]

    remote = ok(call(axon.base_url, "GET", "/_matrix/client/v3/publicRooms", alice_token, params={"server": synapse.server_name}))
    assert synapse_room in [room["room_id"] for room in remote["chunk"]]
    filtered = ok(call(axon.base_url, "POST", "/_matrix/client/v3/publicRooms", alice_token, params={"server": synapse.server_name},
                       json={"limit": 10, "filter": {"generic_search_term": "Listed on Synapse"}}))
    assert [room["room_id"] for room in filtered["chunk"]] == [synapse_room]

    # Synapse asks Axon's /_matrix/federation/v1/publicRooms (GET, then POST with a filter).
    # Synapse caches remote directories briefly; a fresh search term avoids the cache.
    deadline = time.time() + 20
    while True:
        listed = ok(call(synapse.base_url, "POST", "/_matrix/client/v3/publicRooms", bob_token, params={"server": axon.server_name},
                         json={"filter": {"generic_search_term": "findable"}}))
        if axon_room in [room["room_id"] for room in listed["chunk"]] or time.time() > deadline:
            break
        time.sleep(1)
    assert axon_room in [room["room_id"] for room in listed["chunk"]], listed


@pytest.mark.parametrize("version", VERSIONS)
def test_typing_and_receipts_both_ways(peers, version):
    axon, synapse = peers
    room_id, (alice, alice_token), (bob, bob_token) = shared_public_room(axon, synapse, version)
    sync_until(synapse.base_url, bob_token, lambda body: member_event(body, room_id, alice))

    ok(call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/typing/{quoted(alice)}", alice_token,
            json={"typing": True, "timeout": 20000}))
    sync_until(synapse.base_url, bob_token,
               lambda body: any(alice in event["content"].get("user_ids", []) for event in ephemeral(body, room_id, "m.typing")))
    ok(call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/typing/{quoted(bob)}", bob_token,
            json={"typing": True, "timeout": 20000}))
    sync_until(axon.base_url, alice_token,
               lambda body: any(bob in event["content"].get("user_ids", []) for event in ephemeral(body, room_id, "m.typing")))

    bobs = ok(call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/r1", bob_token,
                   json={"msgtype": "m.text", "body": "read this"}))["event_id"]
    sync_until(axon.base_url, alice_token, lambda body: any(
        event.get("event_id") == bobs for event in body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])))
    ok(call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/receipt/m.read/{quoted(bobs)}", alice_token, json={}))
    sync_until(synapse.base_url, bob_token, lambda body: any(
        alice in event["content"].get(bobs, {}).get("m.read", {}) for event in ephemeral(body, room_id, "m.receipt")))

    alices = ok(call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/r2", alice_token,
                     json={"msgtype": "m.text", "body": "and read mine"}))["event_id"]
    sync_until(synapse.base_url, bob_token, lambda body: any(
        event.get("event_id") == alices for event in body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])))
    ok(call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/receipt/m.read/{quoted(alices)}", bob_token, json={}))
    sync_until(axon.base_url, alice_token, lambda body: any(
        bob in event["content"].get(alices, {}).get("m.read", {}) for event in ephemeral(body, room_id, "m.receipt")))


def test_presence_both_ways(peers):
    axon, synapse = peers
    room_id, (alice, alice_token), (bob, bob_token) = shared_public_room(axon, synapse, "11")
    sync_until(synapse.base_url, bob_token, lambda body: member_event(body, room_id, alice))

    def presence_of(user, message):
        return lambda body: any(event.get("sender") == user and event["content"].get("status_msg") == message
                                for event in body.get("presence", {}).get("events", []))

    ok(call(axon.base_url, "PUT", f"/_matrix/client/v3/presence/{quoted(alice)}/status", alice_token,
            json={"presence": "online", "status_msg": "on axon"}))
    sync_until(synapse.base_url, bob_token, presence_of(alice, "on axon"))
    ok(call(synapse.base_url, "PUT", f"/_matrix/client/v3/presence/{quoted(bob)}/status", bob_token,
            json={"presence": "online", "status_msg": "on synapse"}))
    sync_until(axon.base_url, alice_token, presence_of(bob, "on synapse"))
    shown = ok(call(axon.base_url, "GET", f"/_matrix/client/v3/presence/{quoted(bob)}/status", alice_token))
    assert shown["presence"] == "online" and shown["status_msg"] == "on synapse"


def space_with_child(base, token, server_name, version):
    space = ok(call(base, "POST", "/_matrix/client/v3/createRoom", token,
                    json={"preset": "public_chat", "room_version": version, "name": "A space",
                          "creation_content": {"type": "m.space"}}))["room_id"]
    child = ok(call(base, "POST", "/_matrix/client/v3/createRoom", token,
                    json={"preset": "public_chat", "room_version": version, "name": "A child", "topic": "inside"}))["room_id"]
    ok(call(base, "PUT", f"/_matrix/client/v3/rooms/{quoted(space)}/state/m.space.child/{quoted(child)}", token,
            json={"via": [server_name], "suggested": True}))
    return space, child


@pytest.mark.parametrize("version", ["10", "11"])
def test_remote_spaces_and_room_summaries(peers, version):
    # Room IDs of version 12 name no server: a space there is found only through a known
    # member server (the via of a parent), so the root is asked on the versions that name one.
    axon, synapse = peers
    alice, alice_token = register(axon.base_url)
    bob, bob_token = register(synapse.base_url)

    space, child = space_with_child(synapse.base_url, bob_token, synapse.server_name, version)
    seen = ok(call(axon.base_url, "GET", f"/_matrix/client/v1/rooms/{quoted(space)}/hierarchy", alice_token))
    rooms = {room["room_id"]: room for room in seen["rooms"]}
    assert set(rooms) == {space, child}, seen
    assert rooms[space]["room_type"] == "m.space" and rooms[child]["topic"] == "inside"
    assert [state["state_key"] for state in rooms[space]["children_state"]] == [child]
    assert all("allowed_room_ids" not in room for room in seen["rooms"])
    summary = ok(call(axon.base_url, "GET", f"/_matrix/client/v1/room_summary/{quoted(child)}", alice_token,
                      params={"via": synapse.server_name}))
    assert summary["room_id"] == child and summary["name"] == "A child" and summary["membership"] == "leave"
    assert summary.get("room_version") == version

    # And Synapse asks Axon's /_matrix/federation/v1/hierarchy for the child it does not have
    # (Synapse shows a space only to its members, so Bob joins the space first).
    space, child = space_with_child(axon.base_url, alice_token, axon.server_name, version)
    ok(call(synapse.base_url, "POST", f"/_matrix/client/v3/join/{quoted(space)}", bob_token, params={"server_name": axon.server_name}, json={}))
    theirs = ok(call(synapse.base_url, "GET", f"/_matrix/client/v1/rooms/{quoted(space)}/hierarchy", bob_token))
    assert {room["room_id"] for room in theirs["rooms"]} == {space, child}, theirs
