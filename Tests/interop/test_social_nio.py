"""Receipts, presence, profiles, push rules and unread counts, search and ignoring users,
between matrix-nio clients (whose response schemas validate the shapes); raw HTTP where nio
has no call (search, the ignore list)."""

import requests
from clients import nio_user
from nio import (PresenceGetResponse, PushRulesEvent, RoomMemberEvent, RoomMessageText, RoomPreset,
                 SyncResponse)
from nio.api import PushRuleKind, ReceiptType
from nio.events.account_data import PushNotify, PushSetTweak

PASSWORD = "social password"


async def user(axon):
    return await nio_user(axon, "p", PASSWORD)


async def room_of_three(axon):
    alice, bob, carol = await user(axon), await user(axon), await user(axon)
    room = (await alice.room_create(preset=RoomPreset.public_chat)).room_id
    for client in (bob, carol):
        await client.join(room)
    return alice, bob, carol, room


def headers(client):
    return {"Authorization": f"Bearer {client.access_token}"}


async def test_receipts_reach_another_client(axon):
    alice, bob, carol, room = await room_of_three(axon)
    try:
        sent = await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "read me"})
        since = (await alice.sync(timeout=0)).next_batch
        assert (await bob.room_read_markers(room, sent.event_id, read_event=sent.event_id)).__class__.__name__ == "RoomReadMarkersResponse"
        synced = await alice.sync(timeout=5000, since=since)
        receipts = [r for e in synced.rooms.join[room].ephemeral if type(e).__name__ == "ReceiptEvent" for r in e.receipts]
        assert any(r.user_id == bob.user_id and r.event_id == sent.event_id and r.receipt_type == "m.read" for r in receipts)
        # A private receipt is its owner's alone.
        since = synced.next_batch
        await carol.update_receipt_marker(room, sent.event_id, receipt_type=ReceiptType.read_private)
        others = await alice.sync(timeout=300, since=since)
        seen = [r for e in (others.rooms.join[room].ephemeral if room in others.rooms.join else [])
                if type(e).__name__ == "ReceiptEvent" for r in e.receipts]
        assert not any(r.user_id == carol.user_id for r in seen)
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_presence_and_profile_changes_reach_room_members(axon):
    alice, bob, carol, room = await room_of_three(axon)
    try:
        since = (await bob.sync(timeout=0)).next_batch
        await alice.set_presence("online", "lunch")
        presence = await bob.get_presence(alice.user_id)
        assert isinstance(presence, PresenceGetResponse) and presence.presence == "online" and presence.status_msg == "lunch"
        await alice.set_displayname("Alice Cooper")
        synced = await bob.sync(timeout=5000, since=since, full_state=False)
        assert any(p.user_id == alice.user_id and p.status_msg == "lunch" for p in synced.presence_events)
        members = [e for e in synced.rooms.join[room].timeline.events if isinstance(e, RoomMemberEvent)]
        assert any(e.state_key == alice.user_id and e.content.get("displayname") == "Alice Cooper" for e in members)
        assert bob.rooms[room].user_name(alice.user_id) == "Alice Cooper"
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_push_rules_decide_unread_counts(axon):
    alice, bob, carol, room = await room_of_three(axon)
    try:
        first = await alice.sync(timeout=0)
        assert isinstance(first, SyncResponse)
        assert any(isinstance(e, PushRulesEvent) for e in first.account_data_events), "the defaults arrive in the first sync"

        # Alice mutes Carol and wants "pizza" highlighted.
        await alice.set_pushrule("global", PushRuleKind.sender, carol.user_id, actions=[])
        await alice.set_pushrule("global", PushRuleKind.content, "pizza", pattern="pizza",
                                 actions=[PushNotify(), PushSetTweak("highlight", True)])
        await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "hello"})
        await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "Pizza tonight?"})
        mention = await bob.room_send(room, "m.room.message", {
            "msgtype": "m.text", "body": "alice?", "m.mentions": {"user_ids": [alice.user_id]}})
        await carol.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "muted message"})
        await bob.room_send(room, "m.room.message", {"msgtype": "m.notice", "body": "bot output"})

        synced = await alice.sync(timeout=0, since=first.next_batch)
        counts = synced.rooms.join[room].unread_notifications
        assert (counts.notification_count, counts.highlight_count) == (3, 2)
        rules = [e for e in synced.account_data_events if isinstance(e, PushRulesEvent)][-1]
        assert any(r.id == "pizza" for r in rules.global_rules.content)

        await alice.update_receipt_marker(room, mention.event_id)
        cleared = (await alice.sync(timeout=0, since=synced.next_batch)).rooms.join[room].unread_notifications
        assert (cleared.notification_count, cleared.highlight_count) == (0, 0)

        notifications = requests.get(f"{axon.base_url}/_matrix/client/v3/notifications", headers=headers(alice)).json()
        assert [n["event"]["content"]["body"] for n in notifications["notifications"]] == ["alice?", "Pizza tonight?", "hello"]
        assert all(n["read"] for n in notifications["notifications"])
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_search_finds_visible_messages(axon):
    alice, bob, carol, room = await room_of_three(axon)
    try:
        private = (await alice.room_create(preset=RoomPreset.private_chat)).room_id
        await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "The quarterly report is due"})
        await alice.room_send(private, "m.room.message", {"msgtype": "m.text", "body": "report draft, private"})
        body = {"search_categories": {"room_events": {"search_term": "report", "order_by": "recent",
                                                      "event_context": {"before_limit": 1, "after_limit": 0}}}}
        url = f"{axon.base_url}/_matrix/client/v3/search"
        for_bob = requests.post(url, json=body, headers=headers(bob)).json()["search_categories"]["room_events"]
        assert [r["result"]["content"]["body"] for r in for_bob["results"]] == ["The quarterly report is due"]
        assert for_bob["count"] == 1
        for_alice = requests.post(url, json=body, headers=headers(alice)).json()["search_categories"]["room_events"]
        assert [r["result"]["content"]["body"] for r in for_alice["results"]] == [
            "report draft, private", "The quarterly report is due"]
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_ignoring_a_user_hides_their_messages(axon):
    alice, bob, carol, room = await room_of_three(axon)
    try:
        requests.put(f"{axon.base_url}/_matrix/client/v3/user/{bob.user_id}/account_data/m.ignored_user_list",
                     json={"ignored_users": {carol.user_id: {}}}, headers=headers(bob)).raise_for_status()
        await carol.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "can you hear me"})
        await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "alice here"})
        synced = await bob.sync(timeout=0)
        texts = [e.body for e in synced.rooms.join[room].timeline.events if isinstance(e, RoomMessageText)]
        assert "alice here" in texts and "can you hear me" not in texts
        history = await bob.room_messages(room, start=synced.rooms.join[room].timeline.prev_batch or "", limit=50)
        assert all(getattr(e, "sender", None) != carol.user_id or not isinstance(e, RoomMessageText) for e in history.chunk)
    finally:
        for client in (alice, bob, carol):
            await client.close()
