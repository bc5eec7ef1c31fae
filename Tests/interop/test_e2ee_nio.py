"""End-to-end encryption through real clients: two matrix-nio clients (vodozemac) exchange
an encrypted message, which needs key upload, query and claim and olm-encrypted to-device
messages; cross-signing keys go up through mautrix; a key backup is created and read."""
import json
import tempfile
import uuid

import requests
import vodozemac
from mautrix.api import HTTPAPI
from mautrix.client.api import ClientAPI
from mautrix.types import CrossSigningKeys, CrossSigningUsage
from nio import AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent, RoomMessageText

PASSWORD = "e2ee password"


async def encrypted_client(axon):
    name = "e" + uuid.uuid4().hex[:10]
    store = tempfile.mkdtemp(prefix="nio-store-")
    client = AsyncClient(axon.base_url, name, store_path=store, config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    await client.register(name, PASSWORD)
    # Logging in (rather than registering) makes nio open its crypto store for this device.
    login = await client.login(PASSWORD, device_name="interop")
    assert isinstance(login, LoginResponse), login
    if client.should_upload_keys:
        await client.keys_upload()
    return client


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(obj, user_id, account):
    """Signs like a client: canonical JSON without signatures/unsigned, ed25519."""
    unsigned = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    key_id = "ed25519:" + account.ed25519_key.to_base64()
    signature = account.sign(canonical(unsigned)).to_base64()
    signed = dict(obj)
    signed.setdefault("signatures", {}).setdefault(user_id, {})[key_id] = signature
    return signed


async def test_encrypted_round_trip_between_two_nio_clients(axon):
    alice, bob = await encrypted_client(axon), await encrypted_client(axon)
    try:
        created = await alice.room_create(
            invite=[bob.user_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        room = created.room_id
        await bob.sync(timeout=0)
        await bob.join(room)
        await alice.sync(timeout=0)
        await bob.sync(timeout=0)
        assert bob.olm.account.identity_keys, "bob's device keys exist"

        # Sending queries bob's keys, claims a one-time key, and shares the megolm session
        # with an olm-encrypted to-device message.
        sent = await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "top secret"},
                                     ignore_unverified_devices=True)
        assert getattr(sent, "event_id", None), sent

        # The server only ever saw ciphertext.
        raw = requests.get(f"{axon.base_url}/_matrix/client/v3/rooms/{room}/event/{sent.event_id}",
                           headers={"Authorization": f"Bearer {alice.access_token}"}).json()
        assert raw["type"] == "m.room.encrypted" and "top secret" not in json.dumps(raw)

        synced = await bob.sync(timeout=5000)
        decrypted = [e for e in synced.rooms.join[room].timeline.events if isinstance(e, RoomMessageText)]
        undecryptable = [e for e in synced.rooms.join[room].timeline.events if isinstance(e, MegolmEvent)]
        assert [e.body for e in decrypted] == ["top secret"], undecryptable
        assert synced.to_device_events, "the room key arrived as a to-device message"

        # Delivered exactly once: the next sync does not repeat it.
        again = await bob.sync(timeout=0)
        assert not again.to_device_events

        # And the reply goes the other way.
        await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "received"}, ignore_unverified_devices=True)
        back = await alice.sync(timeout=5000)
        assert "received" in [e.body for e in back.rooms.join[room].timeline.events if isinstance(e, RoomMessageText)]
    finally:
        await alice.close()
        await bob.close()


async def test_key_query_and_claim_see_uploaded_keys(axon):
    alice, bob = await encrypted_client(axon), await encrypted_client(axon)
    try:
        query = requests.post(f"{axon.base_url}/_matrix/client/v3/keys/query", json={"device_keys": {bob.user_id: []}},
                              headers={"Authorization": f"Bearer {alice.access_token}"}).json()
        device = query["device_keys"][bob.user_id][bob.device_id]
        assert device["keys"][f"ed25519:{bob.device_id}"] == bob.olm.account.identity_keys["ed25519"]
        claim = requests.post(f"{axon.base_url}/_matrix/client/v3/keys/claim",
                              json={"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}}},
                              headers={"Authorization": f"Bearer {alice.access_token}"}).json()
        assert list(claim["one_time_keys"][bob.user_id][bob.device_id])[0].startswith("signed_curve25519:")
    finally:
        await alice.close()
        await bob.close()


async def test_cross_signing_upload_through_mautrix_and_backup(axon):
    name = "x" + uuid.uuid4().hex[:10]
    reg = requests.post(f"{axon.base_url}/_matrix/client/v3/register",
                        json={"username": name, "password": PASSWORD, "auth": {"type": "m.login.dummy"}}).json()
    user_id, token = reg["user_id"], reg["access_token"]
    master, self_signing, user_signing = vodozemac.Account(), vodozemac.Account(), vodozemac.Account()

    def key(account, usage, signer=None):
        public = account.ed25519_key.to_base64()
        obj = {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}
        return sign(obj, user_id, signer) if signer else obj

    api = ClientAPI(api=HTTPAPI(base_url=axon.base_url, token=token))
    try:
        await api.upload_cross_signing_keys({
            CrossSigningUsage.MASTER: CrossSigningKeys.deserialize(key(master, "master")),
            CrossSigningUsage.SELF: CrossSigningKeys.deserialize(key(self_signing, "self_signing", master)),
            CrossSigningUsage.USER: CrossSigningKeys.deserialize(key(user_signing, "user_signing", master)),
        })
        queried = await api.query_keys([user_id])
        assert queried.master_keys[user_id].keys
        assert queried.self_signing_keys[user_id].keys
    finally:
        await api.api.session.close()

    headers = {"Authorization": f"Bearer {token}"}
    base = f"{axon.base_url}/_matrix/client/v3/room_keys"
    version = requests.post(f"{base}/version", headers=headers, json={
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "bGlrZSBhIGtleQ"}}).json()["version"]
    session = {"first_message_index": 0, "forwarded_count": 0, "is_verified": True,
               "session_data": {"ephemeral": "e", "ciphertext": "c", "mac": "m"}}
    stored = requests.put(f"{base}/keys", params={"version": version}, headers=headers,
                          json={"rooms": {"!r:localhost": {"sessions": {"s1": session}}}}).json()
    assert stored["count"] == 1
    read = requests.get(f"{base}/keys", params={"version": version}, headers=headers).json()
    assert read["rooms"]["!r:localhost"]["sessions"]["s1"] == session
    assert requests.get(f"{base}/version", headers=headers).json()["count"] == 1
