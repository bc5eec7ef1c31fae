"""Two `axon serve` processes on one PostgreSQL database (issue 5): a message sent through
node A wakes a long-poll on node B; concurrent sends through both nodes give one gap-free
timeline; killing a node loses no acknowledged event."""
import asyncio
import os
import shutil
import signal
import time
import uuid

import aiohttp
import pytest

from conftest import AxonProcess, create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.skipif(os.environ.get("AXON_TEST_STORAGE") != "postgres",
                                reason="several nodes need the PostgreSQL backend (run in the PostgreSQL interop pass)")


@pytest.fixture()
def cluster():
    database = create_postgres_database()
    first = AxonProcess("--no-rate-limits", "--database", database, own_database=False)
    key = os.path.join(first.data_dir, "signing.key")
    second = AxonProcess("--no-rate-limits", "--database", database, "--signing-key", key, own_database=False)
    yield first, second
    for node in (first, second):
        if node.process.poll() is None:
            node.stop()
    drop_postgres_database(database)


async def call(session, method, url, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kwargs) as reply:
        return reply.status, await reply.json()


async def register(session, base, name):
    status, body = await call(session, "POST", base + "/_matrix/client/v3/register",
                              json={"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}})
    assert status == 200, body
    return body["access_token"]


async def shared_room(session, a, b):
    """Alice registered on node A, Bob on node B, both joined to a room Alice created."""
    alice = await register(session, a.base_url, "alice" + uuid.uuid4().hex[:6])
    bob = await register(session, b.base_url, "bob" + uuid.uuid4().hex[:6])
    _, room = await call(session, "POST", a.base_url + "/_matrix/client/v3/createRoom", alice, json={"preset": "public_chat"})
    room_id = room["room_id"]
    status, body = await call(session, "POST", f"{b.base_url}/_matrix/client/v3/rooms/{room_id}/join", bob, json={})
    assert status == 200, body
    return alice, bob, room_id


async def test_write_on_one_node_wakes_the_other(cluster):
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice, bob, room_id = await shared_room(session, a, b)
        _, first = await call(session, "GET", b.base_url + "/_matrix/client/v3/sync", bob, params={"timeout": "0"})

        async def send_later():
            await asyncio.sleep(0.3)
            await call(session, "PUT", f"{a.base_url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/x1", alice,
                       json={"msgtype": "m.text", "body": "across nodes"})

        started = time.monotonic()
        sender = asyncio.create_task(send_later())
        _, woke = await call(session, "GET", b.base_url + "/_matrix/client/v3/sync", bob,
                             params={"since": first["next_batch"], "timeout": "20000"})
        await sender
        bodies = [e["content"].get("body") for e in woke["rooms"]["join"][room_id]["timeline"]["events"]]
        assert bodies == ["across nodes"]
        assert time.monotonic() - started < 5


async def test_concurrent_sends_through_both_nodes_make_one_timeline(cluster):
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice, bob, room_id = await shared_room(session, a, b)

        async def burst(base, token, who):
            results = []
            for i in range(40):
                status, body = await call(session, "PUT", f"{base}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{who}{i}",
                                          token, json={"msgtype": "m.text", "body": f"{who}{i}"})
                assert status == 200, body
                results.append(body["event_id"])
            return results

        sent = await asyncio.gather(burst(a.base_url, alice, "a"), burst(b.base_url, bob, "b"),
                                    burst(a.base_url, alice, "c"), burst(b.base_url, bob, "d"))
        expected = {event for chunk in sent for event in chunk}
        timelines = []
        for node, token in ((a, alice), (b, bob)):
            _, page = await call(session, "GET", f"{node.base_url}/_matrix/client/v3/rooms/{room_id}/messages", token,
                                 params={"dir": "f", "limit": "1000"})
            timelines.append(page["chunk"])
        assert [e["event_id"] for e in timelines[0]] == [e["event_id"] for e in timelines[1]]
        messages = [e for e in timelines[0] if e["type"] == "m.room.message"]
        assert {e["event_id"] for e in messages} == expected
        # One chain: in the federation format each event's prev_events is exactly the event
        # before it and its depth one more, whichever node wrote it.
        chain_filter = '{"event_format":"federation","room":{"timeline":{"limit":1000}}}'
        _, synced = await call(session, "GET", a.base_url + "/_matrix/client/v3/sync", alice, params={"filter": chain_filter})
        pdus = synced["rooms"]["join"][room_id]["timeline"]["events"]
        assert len(pdus) == len(timelines[0])
        for previous, event in zip(pdus, pdus[1:]):
            assert event["prev_events"] == [previous["event_id"]]
            assert event["depth"] == previous["depth"] + 1
        # Each sender's messages keep their sending order.
        for who in "abcd":
            order = [e["content"]["body"] for e in messages if e["content"]["body"].startswith(who)]
            assert order == [f"{who}{i}" for i in range(40)]


async def test_killing_a_node_loses_no_acknowledged_event(cluster):
    a, b = cluster
    async with aiohttp.ClientSession() as session:
        alice = await register(session, a.base_url, "alice" + uuid.uuid4().hex[:6])
        _, room = await call(session, "POST", a.base_url + "/_matrix/client/v3/createRoom", alice, json={"preset": "public_chat"})
        room_id = room["room_id"]
        acknowledged = []

        async def keep_sending():
            for i in range(1000):
                try:
                    status, body = await call(session, "PUT", f"{a.base_url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/k{i}",
                                              alice, json={"msgtype": "m.text", "body": f"k{i}"})
                except aiohttp.ClientError:
                    return
                if status == 200:
                    acknowledged.append(body["event_id"])

        sender = asyncio.create_task(keep_sending())
        await asyncio.sleep(1.0)
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        await sender
        assert acknowledged, "the node acknowledged nothing before it was killed"
        _, page = await call(session, "GET", f"{b.base_url}/_matrix/client/v3/rooms/{room_id}/messages", alice,
                             params={"dir": "f", "limit": "1000"})
        stored = {e["event_id"] for e in page["chunk"]}
        assert set(acknowledged) <= stored


async def test_sliding_sync_connection_continues_on_the_other_node(cluster):
    """Sliding-sync connection state lives in the database: a pos from node A continues on
    node B, which sends only what is new; the room lists of both nodes see a leave and a
    forget made through the other."""
    a, b = cluster
    path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
    body = {"conn_id": "room-list", "lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 1, "required_state": []}}}
    async with aiohttp.ClientSession() as session:
        alice, bob, room = await shared_room(session, a, b)
        status, first = await call(session, "POST", a.base_url + path, bob, json=body)
        assert status == 200 and room in first["rooms"], first
        await call(session, "PUT", f"{a.base_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t1", alice,
                   json={"msgtype": "m.text", "body": "via A"})
        status, second = await call(session, "POST", f"{b.base_url}{path}?pos={first['pos']}&timeout=5000", bob, json=body)
        assert status == 200, second
        assert list(second["rooms"]) == [room] and "initial" not in second["rooms"][room]
        assert [e["content"]["body"] for e in second["rooms"][room]["timeline"]] == ["via A"]
        # Bob leaves and forgets through node A; node B's list (which has it cached) drops it.
        await call(session, "POST", f"{a.base_url}/_matrix/client/v3/rooms/{room}/leave", bob, json={})
        await call(session, "POST", f"{a.base_url}/_matrix/client/v3/rooms/{room}/forget", bob, json={})
        status, fresh = await call(session, "POST", b.base_url + path, bob, json={**body, "conn_id": "other"})
        assert status == 200 and fresh["lists"]["all"]["count"] == 0, fresh
