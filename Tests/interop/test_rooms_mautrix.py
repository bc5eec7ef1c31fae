"""Rooms through mautrix-python: aliases, messages, context, state and leave/forget."""
import uuid

import pytest
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.errors import MatrixRequestError, MForbidden, MNotFound
from mautrix.types import (EventType, MatrixUserIdentifier, PaginationDirection, RoomCreatePreset,
                           RoomDirectoryVisibility)

PASSWORD = "mautrix rooms"


async def make_client(axon):
    name = "m" + uuid.uuid4().hex[:10]
    api = HTTPAPI(base_url=axon.base_url)
    client = ClientAPI(api=api)
    await api.request(Method.POST, Path.v3.register,
                      {"username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy"}})
    login = await client.login(identifier=MatrixUserIdentifier(user=name), password=PASSWORD)
    client.mxid = login.user_id
    return client


@pytest.fixture()
async def pair(axon):
    alice, bob = await make_client(axon), await make_client(axon)
    yield alice, bob
    await alice.api.session.close()
    await bob.api.session.close()


async def test_alias_join_send_context(pair):
    alice, bob = pair
    alias = "lobby" + uuid.uuid4().hex[:6]
    room = await alice.create_room(alias_localpart=alias, preset=RoomCreatePreset.PUBLIC,
                                   visibility=RoomDirectoryVisibility.PUBLIC, name="Lobby")
    joined = await bob.join_room(f"#{alias}:localhost")
    assert joined == room
    assert room in await bob.get_joined_rooms()
    ids = [await bob.send_text(room, f"t{i}") for i in range(5)]
    context = await alice.get_event_context(room, ids[2], limit=2)
    assert context.event.content.body == "t2"
    assert [e.content.body for e in context.events_before] == ["t1"]
    assert [e.content.body for e in context.events_after] == ["t3"]
    messages = await alice.get_messages(room, PaginationDirection.BACKWARD, limit=3)
    assert [e.content.body for e in messages.events] == ["t4", "t3", "t2"]
    name = await bob.get_state_event(room, EventType.ROOM_NAME)
    assert name.name == "Lobby"
    await bob.redact(room, ids[0], reason="cleanup")
    redacted = await alice.api.request(Method.GET, Path.v3.rooms[room].event[ids[0]])
    assert redacted["content"] == {}
    assert redacted["unsigned"]["redacted_because"]["content"]["reason"] == "cleanup"


async def test_leave_forget_and_errors(pair):
    alice, bob = pair
    room = await alice.create_room(preset=RoomCreatePreset.PRIVATE, invitees=[bob.mxid])
    with pytest.raises(MatrixRequestError) as refused:
        await bob.forget_room(room)
    assert refused.value.errcode == "M_UNKNOWN"
    await bob.leave_room(room)  # rejects the invite
    await bob.forget_room(room)
    with pytest.raises(MForbidden):
        await bob.join_room_by_id(room)
    with pytest.raises(MForbidden):
        await bob.get_state(room)
    with pytest.raises(MNotFound):
        await bob.join_room("#does-not-exist:localhost", max_retries=0)
