"""Axon and a real Synapse on loopback: keys fetched over TLS both ways, X-Matrix signed
requests both ways (profile queries). Joins and /send follow in the Federation I issue."""
import shutil
import time
import urllib.parse

import pytest

from synapse_peer import SynapsePeer, axon_and_synapse, axon_federating, call, make_certificates, new_workspace, register, synapse_available

pytestmark = pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse")


@pytest.fixture(scope="module")
def peers():
    yield from axon_and_synapse()


def quoted(user_id):
    return urllib.parse.quote(user_id, safe="")


def test_synapse_reads_an_axon_profile_over_signed_federation(peers):
    axon, synapse = peers
    alice, alice_token = register(axon.base_url)
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/profile/{quoted(alice)}/displayname", alice_token,
                json={"displayname": "Alice on Axon"}).status_code == 200
    _, bob_token = register(synapse.base_url)
    # Synapse fetches Axon's keys from its TLS listener, then signs a query/profile request.
    reply = call(synapse.base_url, "GET", f"/_matrix/client/v3/profile/{quoted(alice)}", bob_token)
    assert reply.status_code == 200, reply.text + "\n" + synapse.log_tail()
    assert reply.json().get("displayname") == "Alice on Axon"


def test_axon_reads_a_synapse_profile_over_signed_federation(peers):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/profile/{quoted(bob)}/displayname", bob_token,
                json={"displayname": "Bob on Synapse"}).status_code == 200
    _, alice_token = register(axon.base_url)
    # Axon signs the request; Synapse fetches Axon's keys to check it.
    reply = call(axon.base_url, "GET", f"/_matrix/client/v3/profile/{quoted(bob)}", alice_token)
    assert reply.status_code == 200, reply.text + "\n" + open(axon.log_path).read()[-3000:]
    assert reply.json().get("displayname") == "Bob on Synapse"
    # Axon keeps Synapse's keys: Synapse's own answer on its key endpoint matches what
    # Axon serves as a notary.
    notary = call(axon.base_url, "GET", f"/_matrix/key/v2/query/{quoted(synapse.server_name)}")
    assert notary.status_code == 200
    assert notary.json()["server_keys"][0]["server_name"] == synapse.server_name


def sync_until(base_url, token, predicate, timeout=20, since=None):
    """Long-polls /sync (from `since`, or an initial sync) until `predicate(body)` holds;
    returns the body."""
    deadline = time.time() + timeout
    body = None
    while time.time() < deadline:
        params = {"timeout": "2000"}
        if since:
            params["since"] = since
        body = call(base_url, "GET", "/_matrix/client/v3/sync", token, params=params).json()
        if predicate(body):
            return body
        since = body.get("next_batch", since)
    raise AssertionError("condition not met within %s s; last sync: %s" % (timeout, str(body)[:3000]))


def timeline_bodies(body, room_id):
    events = body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])
    return [event.get("content", {}).get("body") for event in events]


def test_a_synapse_user_joins_an_axon_room_and_messages_flow_both_ways(peers):
    axon, synapse = peers
    alice, alice_token = register(axon.base_url)
    room = call(axon.base_url, "POST", "/_matrix/client/v3/createRoom", alice_token, json={"preset": "public_chat"})
    assert room.status_code == 200, room.text
    room_id = room.json()["room_id"]
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/before",
                alice_token, json={"msgtype": "m.text", "body": "before bob"}).status_code == 200
    bob, bob_token = register(synapse.base_url)
    joined = call(synapse.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(axon.server_name)}",
                  bob_token, json={})
    assert joined.status_code == 200, joined.text + "\n" + synapse.log_tail() + open(axon.log_path).read()[-3000:]
    members = call(axon.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/joined_members", alice_token).json()
    assert bob in members["joined"]

    # Axon → Synapse: the durable sender delivers Alice's message to Bob's server.
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/hello",
                alice_token, json={"msgtype": "m.text", "body": "hello from axon"}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: "hello from axon" in timeline_bodies(body, room_id))

    # Synapse → Axon: Bob's reply arrives over /send.
    assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/reply",
                bob_token, json={"msgtype": "m.text", "body": "hello from synapse"}).status_code == 200
    sync_until(axon.base_url, alice_token, lambda body: "hello from synapse" in timeline_bodies(body, room_id))

    # Synapse backfills Axon's history from before Bob's join (Axon answers /backfill).
    history = call(synapse.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/messages", bob_token,
                   params={"dir": "b", "limit": "50"}).json()
    assert "before bob" in [event.get("content", {}).get("body") for event in history.get("chunk", [])], history


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_an_axon_user_joins_a_synapse_room_and_messages_flow_both_ways(peers, version):
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    room = call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                json={"preset": "public_chat", "room_version": version})
    assert room.status_code == 200, room.text
    room_id = room.json()["room_id"]
    assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/early",
                bob_token, json={"msgtype": "m.text", "body": "before alice"}).status_code == 200
    alice, alice_token = register(axon.base_url)
    joined = call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}",
                  alice_token, json={})
    assert joined.status_code == 200, joined.text + "\n" + open(axon.log_path).read()[-3000:]
    # Alice's client sees the room with its state, Bob among the members.
    synced = sync_until(axon.base_url, alice_token, lambda body: room_id in body.get("rooms", {}).get("join", {}))
    members = call(axon.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/joined_members", alice_token).json()
    assert bob in members["joined"] and alice in members["joined"]
    # Synapse knows Alice joined.
    sync_until(synapse.base_url, bob_token,
               lambda body: any(event.get("state_key") == alice for event in
                                body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])))

    assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/s1",
                bob_token, json={"msgtype": "m.text", "body": "welcome alice"}).status_code == 200
    sync_until(axon.base_url, alice_token, lambda body: "welcome alice" in timeline_bodies(body, room_id))
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/a1",
                alice_token, json={"msgtype": "m.text", "body": "thanks bob"}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: "thanks bob" in timeline_bodies(body, room_id))
    _ = synced

    # Typing notices go out as EDUs.
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/typing/{quoted(alice)}", alice_token,
                json={"typing": True, "timeout": 20000}).status_code == 200
    sync_until(synapse.base_url, bob_token, lambda body: any(
        alice in event.get("content", {}).get("user_ids", [])
        for event in body.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])))

    # History from before Alice's join comes by backfill when her client pages back.
    history = call(axon.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/messages", alice_token,
                   params={"dir": "b", "limit": "50"}).json()
    bodies = [event.get("content", {}).get("body") for event in history.get("chunk", [])]
    assert "before alice" in bodies, history
    assert bodies.index("thanks bob") < bodies.index("welcome alice") < bodies.index("before alice")
    assert any(event.get("type") == "m.room.create" for event in history["chunk"])

    # Leaving is an ordinary event over /send.
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/leave", alice_token, json={}).status_code == 200
    sync_until(synapse.base_url, bob_token,
               lambda body: any(event.get("state_key") == alice and event.get("content", {}).get("membership") == "leave"
                                for event in body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])))


def room_state(base_url, token, room_id, event_type):
    return call(base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/state/{event_type}", token)


def test_axon_catches_up_after_an_outage_across_a_gap_too_big_to_fetch(peers):
    """While Axon is down, Bob changes the topic and sends more than /get_missing_events may
    fetch, and Synapse restarts (forgetting its queue). Back up, Axon hears Synapse's catch-up
    (the newest event only), bridges the gap by the state at its far side (/state_ids), shows
    the new message and the topic, and pages back into the gap by backfill."""
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    room_id = call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                   json={"preset": "public_chat"}).json()["room_id"]
    alice, alice_token = register(axon.base_url)
    joined = call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}",
                  alice_token, json={})
    assert joined.status_code == 200, joined.text
    sync_until(synapse.base_url, bob_token,
               lambda body: any(event.get("state_key") == alice for event in
                                body.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])))

    def bob_talks_while_axon_is_down():
        assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/state/m.room.topic",
                    bob_token, json={"topic": "set while Axon was down"}).status_code == 200
        for index in range(80):
            assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/gap{index}",
                        bob_token, json={"msgtype": "m.text", "body": f"gap {index}"}).status_code == 200
        synapse.restart()

    axon.restart(downtime=bob_talks_while_axon_is_down)
    # Synapse retries a peer that was down when it next has something to send.
    deadline = time.time() + 60
    seen = False
    attempt = 0
    while time.time() < deadline and not seen:
        attempt += 1
        assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/after{attempt}",
                    bob_token, json={"msgtype": "m.text", "body": "after the outage"}).status_code == 200
        try:
            sync_until(axon.base_url, alice_token, lambda body: "after the outage" in timeline_bodies(body, room_id), timeout=8)
            seen = True
        except AssertionError:
            pass
    assert seen, open(axon.log_path).read()[-4000:]
    assert "bridged a gap by its state" in open(axon.log_path).read()
    topic = room_state(axon.base_url, alice_token, room_id, "m.room.topic")
    assert topic.status_code == 200 and topic.json()["topic"] == "set while Axon was down", topic.text

    # Alice answers; Synapse accepts an event built on the bridged graph.
    assert call(axon.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/back",
                alice_token, json={"msgtype": "m.text", "body": "I am back"}).status_code == 200
    try:
        sync_until(synapse.base_url, bob_token, lambda body: "I am back" in timeline_bodies(body, room_id))
    except AssertionError:
        raise AssertionError(synapse.log_tail() + "\n--- axon\n" + open(axon.log_path).read()[-3000:])

    # Paging back reaches into the gap (backfilled from Synapse).
    bodies = []
    token = None
    for _ in range(10):
        params = {"dir": "b", "limit": "30"}
        if token:
            params["from"] = token
        page = call(axon.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/messages", alice_token, params=params).json()
        bodies += [event.get("content", {}).get("body") for event in page.get("chunk", [])]
        token = page.get("end")
        if "gap 0" in bodies or not token:
            break
    assert "gap 0" in bodies and "gap 79" in bodies, str(bodies) + open(axon.log_path).read()[-3000:]
    assert bodies.index("gap 79") < bodies.index("gap 0")


def test_backfilled_history_is_judged_by_the_state_it_was_sent_in(peers):
    """History sent while the room's history was shared stays visible to a later member after
    the room turned to joined-only: each backfilled event carries its own state, not the
    state at the join."""
    axon, synapse = peers
    bob, bob_token = register(synapse.base_url)
    room_id = call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                   json={"preset": "public_chat"}).json()["room_id"]
    def send(body, txn):
        assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/{txn}",
                    bob_token, json={"msgtype": "m.text", "body": body}).status_code == 200
    # More than one backfill page (50) of shared history, so the page Alice gets first starts
    # in the middle of it: its state must be asked for, not taken from the room's beginning.
    for index in range(60):
        send(f"shared {index}", f"s{index}")
    send("said while history was shared", "h1")
    assert call(synapse.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/state/m.room.history_visibility",
                bob_token, json={"history_visibility": "joined"}).status_code == 200
    send("said while history was for members only", "h2")
    alice, alice_token = register(axon.base_url)
    assert call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}",
                alice_token, json={}).status_code == 200
    history = call(axon.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/messages", alice_token,
                   params={"dir": "b", "limit": "50"}).json()
    bodies = [event.get("content", {}).get("body") for event in history.get("chunk", [])]
    assert "said while history was shared" in bodies, history
    assert "said while history was for members only" not in bodies, history
