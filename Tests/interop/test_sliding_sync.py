"""Simplified sliding sync (MSC4186) against a running `axon serve`, in both shapes.

`SlidingSyncLoop` is a sliding-sync client as matrix-rust-sdk (Element X) runs one: it keeps
its `pos`, sends the same request body every time, grows its room list by 100 after the first
window of 20, and starts over on M_UNKNOWN_POS. The request bodies are the ones the SDK's
room-list and encryption connections send. matrix-nio drives the other side (rooms,
messages) and reads /v3/sync beside it, so both APIs are checked against the same events.
"""
import asyncio
import uuid

import requests
from clients import nio_user
from nio import JoinResponse, RoomMessageText, RoomPreset, SyncResponse

PASSWORD = "sliding password"
UNSTABLE = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

# matrix-rust-sdk's room list: the state every room-list entry shows.
ROOM_LIST_STATE = [
    ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"],
    ["m.room.topic", ""], ["m.room.avatar", ""], ["m.room.canonical_alias", ""], ["m.room.power_levels", ""],
    ["org.matrix.msc3401.call.member", "*"], ["m.room.join_rules", ""], ["m.room.tombstone", ""], ["m.room.create", ""],
    ["m.room.history_visibility", ""], ["io.element.functional_members", ""], ["m.space.parent", "*"],
    ["m.space.child", "*"], ["org.matrix.msc3672.beacon_info", "*"],
]
SUBSCRIPTION_STATE = ROOM_LIST_STATE + [["m.room.create", ""], ["m.room.pinned_events", ""]]


def v4_required_state(pairs, user_id):
    """The merged shape's form of a `[[type, state_key]]` list (it names the user: no `$ME`)."""
    include, lazy = [], False
    for event_type, key in pairs:
        if key == "$LAZY":
            lazy = True
            continue
        entry = {} if event_type == "*" else {"type": event_type}
        if key != "*":
            entry["state_key"] = user_id if key == "$ME" else key
        include.append(entry)
    return {"include": include, "lazy_members": lazy}


class SlidingSyncLoop:
    def __init__(self, base_url, token, user_id, conn_id, shape="unstable"):
        self.base_url, self.token, self.user_id = base_url, token, user_id
        self.conn_id, self.shape = conn_id, shape
        self.pos = None
        self.range_end = 19
        self.subscriptions = {}
        self.rooms = {}  # what the client knows, merged from every response
        self.to_device_since = None
        self.restarts = 0

    def body(self, lists=True, extensions=None):
        body = {"conn_id": self.conn_id}
        if lists:
            state = ROOM_LIST_STATE if self.shape == "unstable" else v4_required_state(ROOM_LIST_STATE, self.user_id)
            window = {"ranges": [[0, self.range_end]]} if self.shape == "unstable" else {"range": [0, self.range_end]}
            body["lists"] = {"all_rooms": {**window, "timeline_limit": 1, "required_state": state}}
            sub_state = SUBSCRIPTION_STATE if self.shape == "unstable" else v4_required_state(SUBSCRIPTION_STATE, self.user_id)
            body["room_subscriptions"] = {room: {"timeline_limit": 20, "required_state": sub_state} for room in self.subscriptions}
        body["extensions"] = extensions if extensions is not None else {
            "account_data": {"enabled": True}, "receipts": {"enabled": True, "rooms": ["*"]}, "typing": {"enabled": True}}
        return body

    def request(self, body, timeout=0):
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.shape == "unstable":
            params = {"timeout": timeout}
            if self.pos:
                params["pos"] = self.pos
            return requests.post(self.base_url + UNSTABLE, params=params, json=body, headers=headers, timeout=60)
        body = {**body, "timeout": timeout}
        if self.pos:
            body["pos"] = self.pos
        return requests.post(self.base_url + "/_matrix/client/v4/sync", json=body, headers=headers, timeout=60)

    def sync(self, timeout=0, **body_options):
        reply = self.request(self.body(**body_options), timeout)
        if reply.status_code == 400 and reply.json().get("errcode") == "M_UNKNOWN_POS":
            # The SDK's answer to an expired connection: forget the pos and start again.
            self.pos, self.range_end = None, 19
            self.restarts += 1
            reply = self.request(self.body(**body_options), timeout)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert isinstance(answer["pos"], str)
        self.pos = answer["pos"]
        for room_id, room in answer.get("rooms", {}).items():
            known = {} if room.get("initial") else self.rooms.get(room_id, {})
            timeline = known.get("timeline", []) + room.get("timeline", [])
            self.rooms[room_id] = {**known, **room, "timeline": timeline}
        to_device = answer.get("extensions", {}).get("to_device")
        if to_device:
            self.to_device_since = to_device["next_batch"]
        return answer

    def grow(self, count):
        """The SDK's growing mode: 100 more rooms at a time until the list is covered."""
        if self.range_end + 1 < count:
            self.range_end = min(self.range_end + 100, count - 1)


def window(answer, shape):
    lists = answer["lists"]["all_rooms"]
    if shape == "unstable":
        return lists["ops"][0]["room_ids"]
    return None


def texts(sync, room_id):
    room = sync.rooms.join.get(room_id)
    return [e.body for e in room.timeline.events if isinstance(e, RoomMessageText)] if room else []


async def setup(axon, rooms):
    alice = await nio_user(axon, "ssa", PASSWORD)
    bob = await nio_user(axon, "ssb", PASSWORD)
    room_ids = []
    for index in range(rooms):
        room = (await alice.room_create(preset=RoomPreset.public_chat, name=f"room {index}")).room_id
        assert isinstance(await bob.join(room), JoinResponse)
        await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": f"hello {index}"})
        room_ids.append(room)
    return alice, bob, room_ids


async def room_list_connection(axon, shape):
    alice, bob, room_ids = await setup(axon, 25)
    try:
        loop = SlidingSyncLoop(axon.base_url, bob.access_token, bob.user_id, "room-list", shape)
        first = await asyncio.to_thread(loop.sync)
        assert first["lists"]["all_rooms"]["count"] == 25
        assert len(first["rooms"]) == 20
        newest = room_ids[-1]
        if shape == "unstable":
            assert window(first, shape) == list(reversed(room_ids))[:20]
        room = first["rooms"][newest]
        assert room["initial"] is True and room["name"] == "room 24"
        assert [e["content"]["body"] for e in room["timeline"]] == ["hello 24"]
        state = {(e["type"], e["state_key"]) for e in room["required_state"]}
        assert ("m.room.create", "") in state and ("m.room.member", bob.user_id) in state
        assert ("m.room.member", alice.user_id) in state  # $LAZY: the timeline's sender
        assert room["joined_count"] == 2 and isinstance(room["bump_stamp"], int)

        # Growing by 100: only the five rooms not sent yet come.
        loop.grow(first["lists"]["all_rooms"]["count"])
        second = await asyncio.to_thread(loop.sync)
        assert set(second["rooms"]) == set(room_ids[:5])

        # One new message in the oldest room: that room alone, at the top, with one live event.
        waiting = asyncio.create_task(asyncio.to_thread(loop.sync, 20000))
        await asyncio.sleep(0.3)
        await alice.room_send(room_ids[0], "m.room.message", {"msgtype": "m.text", "body": "bump"})
        third = await waiting
        assert set(third["rooms"]) == {room_ids[0]}
        assert third["rooms"][room_ids[0]]["num_live"] == 1
        assert [e["content"]["body"] for e in third["rooms"][room_ids[0]]["timeline"]] == ["bump"]
        if shape == "unstable":
            assert window(third, shape)[0] == room_ids[0]

        # Opening rooms: 20 subscriptions with a 20-event timeline expand what the list sent.
        loop.subscriptions = dict.fromkeys(room_ids[:20])
        fourth = await asyncio.to_thread(loop.sync)
        expanded = fourth["rooms"][room_ids[1]]
        assert [e["content"].get("body") for e in expanded["timeline"]][-1] == "hello 1"
        assert len(expanded["timeline"]) > 1
        assert expanded[("unstable_expanded_timeline" if shape == "unstable" else "expanded_timeline")] is True

        # /v3/sync agrees on what happened.
        v3 = await bob.sync(timeout=0, full_state=True)
        assert isinstance(v3, SyncResponse)
        assert set(v3.rooms.join) == set(room_ids)
        assert texts(v3, room_ids[0])[-1] == "bump"

        # A pos from a connection that has since started afresh: the SDK starts over too.
        stale = loop.pos
        fresh = SlidingSyncLoop(axon.base_url, bob.access_token, bob.user_id, "room-list", shape)
        await asyncio.to_thread(fresh.sync)
        loop.pos = stale
        again = await asyncio.to_thread(loop.sync)
        assert loop.restarts == 1 and again["lists"]["all_rooms"]["count"] == 25
    finally:
        await alice.close()
        await bob.close()


async def test_room_list_connection_unstable(axon):
    await room_list_connection(axon, "unstable")


async def test_room_list_connection_v4(axon):
    await room_list_connection(axon, "v4")


async def test_encryption_connection(axon):
    alice, bob, _ = await setup(axon, 1)
    try:
        loop = SlidingSyncLoop(axon.base_url, bob.access_token, bob.user_id, "encryption")

        def encryption_sync(timeout=0):
            extensions = {"to_device": {"enabled": True}, "e2ee": {"enabled": True}}
            if loop.to_device_since:
                extensions["to_device"]["since"] = loop.to_device_since
            return loop.sync(timeout, lists=False, extensions=extensions)

        first = await asyncio.to_thread(encryption_sync)
        assert first["extensions"]["to_device"]["events"] == []
        assert "device_one_time_keys_count" in first["extensions"]["e2ee"]
        txn = uuid.uuid4().hex
        reply = requests.put(
            f"{axon.base_url}/_matrix/client/v3/sendToDevice/m.test/{txn}",
            json={"messages": {bob.user_id: {bob.device_id: {"secret": 1}}}},
            headers={"Authorization": f"Bearer {alice.access_token}"}, timeout=10)
        assert reply.status_code == 200, reply.text
        second = await asyncio.to_thread(encryption_sync, 10000)
        events = second["extensions"]["to_device"]["events"]
        assert [(e["sender"], e["content"]) for e in events] == [(alice.user_id, {"secret": 1})]
        third = await asyncio.to_thread(encryption_sync)
        assert third["extensions"]["to_device"]["events"] == []
        # The room list connection of the same device is a separate one.
        assert "rooms" in (await asyncio.to_thread(SlidingSyncLoop(axon.base_url, bob.access_token, bob.user_id, "room-list").sync))
    finally:
        await alice.close()
        await bob.close()
