"""Invites, rejections and knocks between Axon and a real Synapse, both directions, on room
versions 10–12 (Federation II, "Membership")."""
import shutil

import pytest

from synapse_peer import SynapsePeer, axon_and_synapse, axon_federating, call, make_certificates, new_workspace, quoted, register, synapse_available
from test_federation_synapse import sync_until, timeline_bodies

pytestmark = pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse")

VERSIONS = ["10", "11", "12"]


@pytest.fixture(scope="module")
def peers():
    yield from axon_and_synapse()


def invited(body, room_id):
    return body.get("rooms", {}).get("invite", {}).get(room_id)


def left(body, room_id):
    return room_id in body.get("rooms", {}).get("leave", {})


def membership_in_timeline(body, room_id, user, membership):
    events = body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])
    return any(event.get("state_key") == user and event.get("content", {}).get("membership") == membership for event in events)


def create(base, token, version, **extra):
    body = {"preset": "private_chat", "room_version": version, "name": f"room v{version}", **extra}
    reply = call(base, "POST", "/_matrix/client/v3/createRoom", token, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["room_id"]


def send(base, token, room_id, body, txn):
    reply = call(base, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/{txn}", token,
                 json={"msgtype": "m.text", "body": body})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("version", VERSIONS)
def test_a_synapse_user_invites_an_axon_user_who_accepts(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    room_id = create(synapse.base_url, bob_token, version)
    reply = call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/invite", bob_token, json={"user_id": alice})
    assert reply.status_code == 200, reply.text + open(axon.log_path).read()[-2000:]
    body = sync_until(axon.base_url, alice_token, lambda body: invited(body, room_id))
    shown = invited(body, room_id)["invite_state"]["events"]
    assert any(event["type"] == "m.room.name" and event["content"]["name"] == f"room v{version}" for event in shown), shown
    assert any(event["type"] == "m.room.member" and event["state_key"] == alice for event in shown)
    # Joining needs no server name: the inviter's server is asked.
    joined = call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}", alice_token, json={})
    assert joined.status_code == 200, joined.text + open(axon.log_path).read()[-2000:]
    sync_until(synapse.base_url, bob_token, lambda body: membership_in_timeline(body, room_id, alice, "join"))
    send(synapse.base_url, bob_token, room_id, "hello invitee", "i1")
    sync_until(axon.base_url, alice_token, lambda body: "hello invitee" in timeline_bodies(body, room_id))
    send(axon.base_url, alice_token, room_id, "thanks for the invite", "i2")
    sync_until(synapse.base_url, bob_token, lambda body: "thanks for the invite" in timeline_bodies(body, room_id))


@pytest.mark.parametrize("version", VERSIONS)
def test_an_axon_user_rejects_a_synapse_invite(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    room_id = create(synapse.base_url, bob_token, version)
    assert call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/invite", bob_token,
                json={"user_id": alice}).status_code == 200
    seen = sync_until(axon.base_url, alice_token, lambda body: invited(body, room_id))
    rejected = call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/leave", alice_token, json={})
    assert rejected.status_code == 200, rejected.text + open(axon.log_path).read()[-2000:]
    sync_until(synapse.base_url, bob_token, lambda body: membership_in_timeline(body, room_id, alice, "leave"))
    body = sync_until(axon.base_url, alice_token, lambda body: left(body, room_id), since=seen["next_batch"])
    assert not invited(body, room_id)
    # Forgetting the rejected room works like any left room.
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/forget", alice_token, json={}).status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_an_axon_user_invites_a_synapse_user_who_accepts(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    room_id = create(axon.base_url, alice_token, version)
    reply = call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/invite", alice_token, json={"user_id": bob})
    assert reply.status_code == 200, reply.text + open(axon.log_path).read()[-2000:]
    body = sync_until(synapse.base_url, bob_token, lambda body: invited(body, room_id))
    shown = invited(body, room_id)["invite_state"]["events"]
    assert any(event["type"] == "m.room.create" for event in shown), shown
    joined = call(synapse.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}", bob_token, json={})
    assert joined.status_code == 200, joined.text
    sync_until(axon.base_url, alice_token, lambda body: membership_in_timeline(body, room_id, bob, "join"))
    send(synapse.base_url, bob_token, room_id, "glad to be here", "j1")
    sync_until(axon.base_url, alice_token, lambda body: "glad to be here" in timeline_bodies(body, room_id))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_synapse_user_rejects_an_axon_invite(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    room_id = create(axon.base_url, alice_token, version)
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/invite", alice_token,
                json={"user_id": bob}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: invited(body, room_id))
    rejected = call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/leave", bob_token, json={})
    assert rejected.status_code == 200, rejected.text
    sync_until(axon.base_url, alice_token, lambda body: membership_in_timeline(body, room_id, bob, "leave"))


@pytest.mark.parametrize("version", VERSIONS)
def test_knocks_are_let_in_both_ways(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    knock_rules = {"initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}]}

    # Alice knocks on Bob's room; she sees her knock; Bob lets her in with an invite.
    synapse_room = create(synapse.base_url, bob_token, version, **knock_rules)
    knocked = call(axon.base_url, "POST", f"/_matrix/client/v3/knock/{quoted(synapse_room)}?server_name={quoted(synapse.server_name)}",
                   alice_token, json={"reason": "let me in"})
    assert knocked.status_code == 200, knocked.text + open(axon.log_path).read()[-2000:]
    body = sync_until(axon.base_url, alice_token, lambda body: synapse_room in body.get("rooms", {}).get("knock", {}))
    shown = body["rooms"]["knock"][synapse_room]["knock_state"]["events"]
    assert any(event["type"] == "m.room.name" for event in shown), shown
    sync_until(synapse.base_url, bob_token, lambda body: membership_in_timeline(body, synapse_room, alice, "knock"))
    assert call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(synapse_room)}/invite", bob_token,
                json={"user_id": alice}).status_code == 200
    sync_until(axon.base_url, alice_token, lambda body: invited(body, synapse_room))
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(synapse_room)}", alice_token, json={}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: membership_in_timeline(body, synapse_room, alice, "join"))

    # Bob knocks on Alice's room; Alice lets him in.
    axon_room = create(axon.base_url, alice_token, version, **knock_rules)
    knocked = call(synapse.base_url, "POST", f"/_matrix/client/v3/knock/{quoted(axon_room)}?server_name={quoted(axon.server_name)}",
                   bob_token, json={"reason": "me too"})
    assert knocked.status_code == 200, knocked.text
    sync_until(axon.base_url, alice_token, lambda body: membership_in_timeline(body, axon_room, bob, "knock"))
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(axon_room)}/invite", alice_token,
                json={"user_id": bob}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: invited(body, axon_room))
    assert call(synapse.base_url, "POST", f"/_matrix/client/v3/join/{quoted(axon_room)}", bob_token, json={}).status_code == 200
    sync_until(axon.base_url, alice_token, lambda body: membership_in_timeline(body, axon_room, bob, "join"))


def test_remote_kicks_and_bans_reach_sync(peers):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    room_id = create(synapse.base_url, bob_token, "11", preset="public_chat")
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}",
                alice_token, json={}).status_code == 200
    seen = sync_until(axon.base_url, alice_token, lambda body: room_id in body.get("rooms", {}).get("join", {}))
    assert call(synapse.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/ban", bob_token,
                json={"user_id": alice, "reason": "testing bans"}).status_code == 200
    body = sync_until(axon.base_url, alice_token, lambda body: left(body, room_id), since=seen["next_batch"])
    events = body["rooms"]["leave"][room_id]["timeline"]["events"]
    assert any(event.get("state_key") == alice and event["content"].get("membership") == "ban" for event in events), events
    # Banned, she cannot join again.
    again = call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}",
                 alice_token, json={})
    assert again.status_code == 403, again.text


@pytest.mark.parametrize("upgrader", ["axon", "synapse"])
def test_room_upgrades_are_followed_across_servers(peers, upgrader):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    alice, alice_token = register(axon.base_url)
    owner, owner_token, other, other_token, owner_server = (
        (axon, alice_token, synapse, bob_token, axon.server_name) if upgrader == "axon"
        else (synapse, bob_token, axon, alice_token, synapse.server_name))
    room_id = create(owner.base_url, owner_token, "10", preset="public_chat")
    assert call(other.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(owner_server)}",
                other_token, json={}).status_code == 200
    upgraded = call(owner.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/upgrade", owner_token, json={"new_version": "12"})
    assert upgraded.status_code == 200, upgraded.text
    new_room = upgraded.json()["replacement_room"]
    # The other side sees the tombstone in the old room and follows it.
    def tombstoned(body):
        events = body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])
        return any(event.get("type") == "m.room.tombstone" and event["content"].get("replacement_room") == new_room for event in events)
    sync_until(other.base_url, other_token, tombstoned)
    joined = call(other.base_url, "POST", f"/_matrix/client/v3/join/{quoted(new_room)}?server_name={quoted(owner_server)}",
                  other_token, json={})
    assert joined.status_code == 200, joined.text
    create_event = call(other.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(new_room)}/state/m.room.create", other_token).json()
    assert create_event.get("predecessor", {}).get("room_id") == room_id, create_event
