"""Rooms through matrix-nio: creation, messages, pagination, state, redaction, membership,
and the leave/forget semantics of the leaving.yaml seed."""
import uuid

from nio import (AsyncClient, JoinResponse, RoomCreateResponse, RoomForgetError, RoomForgetResponse,
                 RoomGetEventError, RoomGetEventResponse, RoomGetStateEventResponse, RoomGetStateResponse,
                 RoomKickResponse, RoomLeaveResponse, RoomMessagesError, RoomMessagesResponse, RoomPreset,
                 RoomPutStateResponse, RoomRedactResponse, RoomSendResponse, RoomVisibility, RoomBanResponse,
                 RoomUnbanResponse, RoomInviteResponse, JoinError, MessageDirection, RoomSendError)

PASSWORD = "rooms password"


async def user(axon, name=None):
    name = name or "r" + uuid.uuid4().hex[:10]
    client = AsyncClient(axon.base_url, name)
    await client.register(name, PASSWORD)
    return client


async def text(client, room_id, body):
    response = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(response, RoomSendResponse), response
    return response.event_id


def bodies(response):
    return [e.body for e in response.chunk if hasattr(e, "body")]


async def test_create_send_paginate_both_ways(axon):
    alice = await user(axon)
    try:
        created = await alice.room_create(name="nio room", topic="about", preset=RoomPreset.public_chat)
        assert isinstance(created, RoomCreateResponse), created
        room = created.room_id
        for i in range(15):
            await text(alice, room, f"n{i}")
        page = await alice.room_messages(room, start=None, limit=10)
        assert isinstance(page, RoomMessagesResponse), page
        assert bodies(page) == [f"n{i}" for i in range(14, 4, -1)]
        rest = await alice.room_messages(room, start=page.end, limit=10)
        assert bodies(rest)[:5] == [f"n{i}" for i in range(4, -1, -1)]
        forward = await alice.room_messages(room, start=None, direction=MessageDirection.front, limit=100)
        assert bodies(forward) == [f"n{i}" for i in range(15)]

        name = await alice.room_get_state_event(room, "m.room.name")
        assert isinstance(name, RoomGetStateEventResponse) and name.content["name"] == "nio room"
        put = await alice.room_put_state(room, "org.example.state", {"k": "v"}, state_key="s")
        assert isinstance(put, RoomPutStateResponse)
        state = await alice.room_get_state(room)
        assert isinstance(state, RoomGetStateResponse)
        assert any(e["type"] == "org.example.state" and e["state_key"] == "s" for e in state.events)
    finally:
        await alice.close()


async def test_redaction_and_get_event(axon):
    alice = await user(axon)
    try:
        room = (await alice.room_create()).room_id
        event_id = await text(alice, room, "regret")
        got = await alice.room_get_event(room, event_id)
        assert isinstance(got, RoomGetEventResponse) and got.event.body == "regret"
        assert isinstance(await alice.room_redact(room, event_id, reason="nope"), RoomRedactResponse)
        got = await alice.room_get_event(room, event_id)
        assert got.event.source["content"] == {}
        assert got.event.source["unsigned"]["redacted_because"]["content"]["reason"] == "nope"
    finally:
        await alice.close()


async def test_membership_invite_kick_ban(axon):
    alice, bob = await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.private_chat)).room_id
        assert isinstance(await bob.join(room), JoinError)
        assert isinstance(await alice.room_invite(room, bob.user_id), RoomInviteResponse)
        assert isinstance(await bob.join(room), JoinResponse)
        assert isinstance(await alice.room_kick(room, bob.user_id, reason="out"), RoomKickResponse)
        assert isinstance(await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "x"}), RoomSendError)
        assert isinstance(await alice.room_ban(room, bob.user_id), RoomBanResponse)
        assert isinstance(await alice.room_unban(room, bob.user_id), RoomUnbanResponse)
    finally:
        await alice.close()
        await bob.close()


async def test_leave_then_forget(axon):
    alice, bob = await user(axon), await user(axon)
    try:
        room = (await alice.room_create(preset=RoomPreset.public_chat)).room_id
        assert isinstance(await bob.join(room), JoinResponse)
        await text(alice, room, "while joined")
        forget_joined = await bob.room_forget(room)
        assert isinstance(forget_joined, RoomForgetError) and forget_joined.status_code == "M_UNKNOWN"
        assert isinstance(await bob.room_leave(room), RoomLeaveResponse)
        secret = await text(alice, room, "after leaving")
        history = await bob.room_messages(room, start=None, limit=20)
        assert isinstance(history, RoomMessagesResponse)
        assert "while joined" in bodies(history) and "after leaving" not in bodies(history)
        assert isinstance(await bob.room_get_event(room, secret), RoomGetEventError)

        assert isinstance(await bob.room_forget(room), RoomForgetResponse)
        hidden = await bob.room_messages(room, start=None, limit=20)
        assert isinstance(hidden, RoomMessagesError) and hidden.status_code == "M_FORBIDDEN"
        # Alice still has the whole room; Bob can come back.
        assert "after leaving" in bodies(await alice.room_messages(room, start=None, limit=20))
        assert isinstance(await bob.join(room), JoinResponse)
        assert "while joined" in bodies(await bob.room_messages(room, start=None, limit=20))
    finally:
        await alice.close()
        await bob.close()
