"""/sync, filters and lazy loading, include_leave, and the legacy API through matrix-nio
(whose response schemas validate the shapes), plus raw HTTP where nio has no call."""
import asyncio
import time

import requests
from clients import nio_user
from nio import (JoinResponse, RoomMessageText, RoomPreset, SyncResponse)

PASSWORD = "sync password"


async def user(axon):
    return await nio_user(axon, "s", PASSWORD)


def texts(sync, room_id):
    room = sync.rooms.join.get(room_id)
    return [e.body for e in room.timeline.events if isinstance(e, RoomMessageText)] if room else []


async def test_initial_incremental_and_long_poll(axon):
    alice, bob = await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.public_chat, name="sync")).room_id
        assert isinstance(await bob.join(room), JoinResponse)
        first = await bob.sync(timeout=0)
        assert isinstance(first, SyncResponse), first
        assert room in first.rooms.join

        async def send_later():
            await asyncio.sleep(0.3)
            await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "wake up"})

        started = time.monotonic()
        sender = asyncio.create_task(send_later())
        woke = await bob.sync(timeout=20000, since=first.next_batch)
        await sender
        assert isinstance(woke, SyncResponse)
        assert texts(woke, room) == ["wake up"]
        assert time.monotonic() - started < 5

        idle = await bob.sync(timeout=300, since=woke.next_batch)
        assert isinstance(idle, SyncResponse) and room not in idle.rooms.join
    finally:
        await alice.close()
        await bob.close()


async def test_lazy_loading_filter_and_include_leave(axon):
    alice, bob, carol = await user(axon), await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.public_chat)).room_id
        for client in (bob, carol):
            await client.join(room)
        await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "from bob"})
        lazy = {"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": True}}}
        synced = await alice.sync(timeout=0, sync_filter=lazy)
        members = {e.state_key for e in synced.rooms.join[room].state if e.source["type"] == "m.room.member"}
        assert members == {bob.user_id, alice.user_id}

        since = synced.next_batch
        await carol.room_leave(room)
        carol_sync = await carol.sync(timeout=0, sync_filter={"room": {"include_leave": True}})
        assert room in carol_sync.rooms.leave
        await carol.room_forget(room)
        gone = await carol.sync(timeout=0, sync_filter={"room": {"include_leave": True}})
        assert room not in gone.rooms.leave
        # Alice sees Carol's leave as a membership change.
        after = await alice.sync(timeout=0, since=since)
        assert any(e.source.get("state_key") == carol.user_id for e in after.rooms.join[room].timeline.events)
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_legacy_events_initial_sync_and_event_by_id(axon):
    alice, bob = await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.private_chat)).room_id
        hidden = (await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "private"})).event_id
        base = axon.base_url + "/_matrix/client/v3"
        ha = {"Authorization": f"Bearer {alice.access_token}"}
        hb = {"Authorization": f"Bearer {bob.access_token}"}
        assert requests.get(f"{base}/events/{hidden}", headers=ha).json()["content"]["body"] == "private"
        denied = requests.get(f"{base}/events/{hidden}", headers=hb)
        assert (denied.status_code, denied.json()["errcode"]) == (404, "M_NOT_FOUND")

        end = requests.get(f"{base}/events", headers=ha, params={"timeout": 0}).json()["end"]
        started = time.monotonic()
        timed_out = requests.get(f"{base}/events", headers=ha, params={"from": end, "timeout": 300}).json()
        assert timed_out["chunk"] == [] and time.monotonic() - started >= 0.25

        async def send_later():
            await asyncio.sleep(0.3)
            await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "event stream"})

        sender = asyncio.create_task(send_later())
        woke = await asyncio.to_thread(
            lambda: requests.get(f"{base}/events", headers=ha, params={"from": end, "timeout": 20000}).json())
        await sender
        assert [e["content"]["body"] for e in woke["chunk"]] == ["event stream"]

        initial = requests.get(f"{base}/initialSync", headers=ha, params={"limit": 3}).json()
        entry = next(r for r in initial["rooms"] if r["room_id"] == room)
        assert entry["membership"] == "join" and len(entry["messages"]["chunk"]) == 3
        await alice.room_leave(room)
        assert all(r["room_id"] != room for r in requests.get(f"{base}/initialSync", headers=ha).json()["rooms"])
        archived = requests.get(f"{base}/initialSync", headers=ha, params={"archived": "true"}).json()
        assert any(r["room_id"] == room and r["membership"] == "leave" for r in archived["rooms"])
    finally:
        await alice.close()
        await bob.close()


async def test_typing_reaches_another_client_and_expires(axon):
    alice, bob = await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.public_chat)).room_id
        await bob.join(room)
        since = (await bob.sync(timeout=0)).next_batch
        await alice.room_typing(room, typing_state=True, timeout=500)
        typing = await bob.sync(timeout=5000, since=since)
        notices = [e for e in typing.rooms.join[room].ephemeral if type(e).__name__ == "TypingNoticeEvent"]
        assert notices and notices[-1].users == [alice.user_id]
        # The notice ends by itself once its timeout passes; the long-poll wakes for it.
        started = time.monotonic()
        expired = await bob.sync(timeout=10000, since=typing.next_batch)
        notices = [e for e in expired.rooms.join[room].ephemeral if type(e).__name__ == "TypingNoticeEvent"]
        assert notices and notices[-1].users == []
        assert time.monotonic() - started < 5
    finally:
        await alice.close()
        await bob.close()
