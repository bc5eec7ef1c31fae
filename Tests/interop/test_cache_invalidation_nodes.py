"""Caches stay right across nodes (issue 18): node B reads something (so it is cached there),
node A changes it, and B's very next request shows the change. Covers a state change, a
membership change, a redaction and a logout, each of which B learns only through PostgreSQL
NOTIFY. Node A's memory of the presence it wrote is voided the same way."""
import asyncio
import uuid

import aiohttp
import pytest

from test_two_nodes import call, cluster, pytestmark, register, shared_room  # noqa: F401


def client(base):
    return base + "/_matrix/client/v3"


async def test_changes_on_one_node_are_seen_on_the_others_next_request(cluster):  # noqa: F811
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice, bob, room_id = await shared_room(session, a, b)
        room = f"/rooms/{room_id}"

        # State: a topic read on B, changed on A.
        status, _ = await call(session, "PUT", client(a.base_url) + room + "/state/m.room.topic", alice, json={"topic": "one"})
        assert status == 200
        status, body = await call(session, "GET", client(b.base_url) + room + "/state/m.room.topic", bob)
        assert (status, body.get("topic")) == (200, "one")
        await call(session, "PUT", client(a.base_url) + room + "/state/m.room.topic", alice, json={"topic": "two"})
        status, body = await call(session, "GET", client(b.base_url) + room + "/state/m.room.topic", bob)
        assert (status, body.get("topic")) == (200, "two")

        # Membership: the member list read on B, a join made on A.
        status, body = await call(session, "GET", client(b.base_url) + room + "/joined_members", bob)
        assert status == 200 and len(body["joined"]) == 2
        carol = await register(session, a.base_url, "carol" + uuid.uuid4().hex[:6])
        status, _ = await call(session, "POST", client(a.base_url) + room + "/join", carol, json={})
        assert status == 200
        status, body = await call(session, "GET", client(b.base_url) + room + "/joined_members", bob)
        assert status == 200 and len(body["joined"]) == 3
        status, body = await call(session, "GET", client(b.base_url) + room + "/members", bob, params={"membership": "join"})
        assert len(body["chunk"]) == 3

        # Redaction: an event read on B, redacted on A.
        _, sent = await call(session, "PUT", client(a.base_url) + room + "/send/m.room.message/t1", alice,
                             json={"msgtype": "m.text", "body": "secret"})
        event_id = sent["event_id"]
        status, body = await call(session, "GET", client(b.base_url) + room + f"/event/{event_id}", bob)
        assert (status, body["content"].get("body")) == (200, "secret")
        status, _ = await call(session, "PUT", client(a.base_url) + room + f"/redact/{event_id}/r1", alice, json={})
        assert status == 200
        status, body = await call(session, "GET", client(b.base_url) + room + f"/event/{event_id}", bob)
        assert status == 200 and body["content"] == {}
        assert "redacted_because" in body["unsigned"]

        # Logout: a token used on B, logged out on A.
        status, _ = await call(session, "GET", client(b.base_url) + "/account/whoami", carol)
        assert status == 200
        status, _ = await call(session, "POST", client(a.base_url) + "/logout", carol, json={})
        assert status == 200
        status, body = await call(session, "GET", client(b.base_url) + "/account/whoami", carol)
        assert (status, body.get("errcode")) == (401, "M_UNKNOWN_TOKEN")


async def test_a_presence_set_on_one_node_is_not_skipped_by_the_other(cluster):  # noqa: F811
    """Node A remembers what it last wrote of a syncing user's presence, to skip refreshing
    it every /sync; a presence set on node B must void that, so A's next sync (asking for
    "online") sets it again instead of keeping B's "unavailable"."""
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice, _, _ = await shared_room(session, a, b)
        _, me = await call(session, "GET", client(a.base_url) + "/account/whoami", alice)
        status_path = f"/presence/{me['user_id']}/status"
        status, _ = await call(session, "GET", client(a.base_url) + "/sync", alice, params={"timeout": "0", "set_presence": "online"})
        assert status == 200
        status, _ = await call(session, "PUT", client(b.base_url) + status_path, alice, json={"presence": "unavailable"})
        assert status == 200
        presence = None
        for _ in range(50):  # the NOTIFY reaches A within milliseconds; bounded
            await call(session, "GET", client(a.base_url) + "/sync", alice, params={"timeout": "0", "set_presence": "online"})
            _, body = await call(session, "GET", client(b.base_url) + status_path, alice)
            presence = body.get("presence")
            if presence == "online":
                break
            await asyncio.sleep(0.1)
        assert presence == "online"


async def test_a_timeline_cached_on_one_node_shows_what_the_other_sent(cluster):  # noqa: F811
    """Each node keeps a room's newest events (its timeline tail), and no NOTIFY tells it of
    new ones: an incremental /sync must still show every message the moment the other node
    has sent it, asked once (read from the database) or again (answered by the tail)."""
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice, bob, room_id = await shared_room(session, a, b)
        _, body = await call(session, "GET", client(b.base_url) + "/sync", bob, params={"timeout": "0"})
        first = since = body["next_batch"]
        sent_ids = []
        for i in range(6):
            node, sender = (a, alice) if i % 2 == 0 else (b, bob)
            status, sent = await call(session, "PUT", client(node.base_url) + f"/rooms/{room_id}/send/m.room.message/tail{i}",
                                      sender, json={"msgtype": "m.text", "body": f"m{i}"})
            assert status == 200
            sent_ids.append(sent["event_id"])
            for _ in range(2):
                status, body = await call(session, "GET", client(b.base_url) + "/sync", bob, params={"since": since, "timeout": "0"})
                timeline = body["rooms"]["join"][room_id]["timeline"]
                assert [e["event_id"] for e in timeline["events"]] == [sent["event_id"]]
                assert timeline["limited"] is False
            since = body["next_batch"]
        # From the first token, everything sent since, in order.
        status, body = await call(session, "GET", client(b.base_url) + "/sync", bob, params={"since": first, "timeout": "0"})
        assert [e["event_id"] for e in body["rooms"]["join"][room_id]["timeline"]["events"]] == sent_ids
