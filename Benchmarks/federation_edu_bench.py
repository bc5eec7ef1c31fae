"""Ephemeral events and media across servers, Axon ↔ one real Synapse on loopback (the interop
harness's setup): typing and read-receipt latency each way (from the sender's PUT/POST to the
other side's /sync showing it), and a remote media download through Axon, first (fetched over
federation) and cached. Run from the repository root:

    .venv/bin/python Benchmarks/federation_edu_bench.py [--rounds 20] [--media-kb 1024]

AXON_BIN picks the binary (default: the debug build). Bounded: every wait has a deadline.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))

import requests  # noqa: E402

from federation_bench import quoted, shared_room, sync_token  # noqa: E402
from synapse_peer import SynapsePeer, axon_federating, call, make_certificates, new_workspace, register  # noqa: E402


def wait_ephemeral(base, token, room_id, since, predicate, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        reply = call(base, "GET", "/_matrix/client/v3/sync", token, params={"since": since, "timeout": "5000"}).json()
        since = reply.get("next_batch", since)
        events = reply.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
        if any(predicate(event) for event in events):
            return since
    raise RuntimeError("ephemeral event did not arrive")


def typing_latency(sender, sender_user, sender_token, receiver, receiver_token, room_id, rounds):
    since = sync_token(receiver.base_url, receiver_token)
    samples = []
    for _ in range(rounds):
        for typing in (True, False):
            started = time.perf_counter()
            assert call(sender.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/typing/{quoted(sender_user)}",
                        sender_token, json={"typing": typing, "timeout": 30000}).status_code == 200
            since = wait_ephemeral(receiver.base_url, receiver_token, room_id, since, lambda event: event["type"] == "m.typing" and (
                sender_user in event["content"]["user_ids"]) == typing)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def receipt_latency(sender, sender_user, sender_token, receiver, receiver_token, room_id, rounds, label):
    samples = []
    for index in range(rounds):
        event_id = call(receiver.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/{label}{index}",
                        receiver_token, json={"msgtype": "m.text", "body": f"{label} {index}"}).json()["event_id"]
        # The reader must have the event before it can acknowledge it.
        end = time.time() + 30
        while call(sender.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/event/{quoted(event_id)}",
                   sender_token).status_code != 200:
            assert time.time() < end, "event did not arrive"
            time.sleep(0.05)
        since = sync_token(receiver.base_url, receiver_token)
        started = time.perf_counter()
        assert call(sender.base_url, "POST", f"/_matrix/client/v3/rooms/{quoted(room_id)}/receipt/m.read/{quoted(event_id)}",
                    sender_token, json={}).status_code == 200
        wait_ephemeral(receiver.base_url, receiver_token, room_id, since, lambda event: event["type"] == "m.receipt" and (
            sender_user in event["content"].get(event_id, {}).get("m.read", {})))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def media_times(axon, alice_token, synapse, bob_token, kilobytes, rounds):
    first, cached = [], []
    for _ in range(rounds):
        upload = requests.post(synapse.base_url + "/_matrix/media/v3/upload", data=os.urandom(kilobytes * 1024),
                               headers={"Authorization": f"Bearer {bob_token}", "Content-Type": "application/octet-stream"}, timeout=60)
        media = upload.json()["content_uri"][len("mxc://"):]
        for samples in (first, cached):
            started = time.perf_counter()
            reply = requests.get(f"{axon.base_url}/_matrix/client/v1/media/download/{media}",
                                 headers={"Authorization": f"Bearer {alice_token}"}, timeout=120)
            assert reply.status_code == 200 and len(reply.content) == kilobytes * 1024
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(first), statistics.median(cached)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--media-kb", type=int, default=1024)
    args = parser.parse_args()
    workspace = new_workspace()
    certs = make_certificates(workspace)
    synapse = SynapsePeer(workspace, certs)
    axon = axon_federating(workspace, certs)
    try:
        alice, alice_token = register(axon.base_url)
        bob, bob_token = register(synapse.base_url)
        room_id = shared_room(axon, alice_token, synapse, bob_token)
        for name, (median, worst) in [
            ("typing Axon → Synapse", typing_latency(axon, alice, alice_token, synapse, bob_token, room_id, args.rounds)),
            ("typing Synapse → Axon", typing_latency(synapse, bob, bob_token, axon, alice_token, room_id, args.rounds)),
            ("receipt Axon → Synapse", receipt_latency(axon, alice, alice_token, synapse, bob_token, room_id, args.rounds, "a")),
            ("receipt Synapse → Axon", receipt_latency(synapse, bob, bob_token, axon, alice_token, room_id, args.rounds, "b")),
        ]:
            print(f"{name}: median {median:.1f} ms, max {worst:.1f} ms")
        first, cached = media_times(axon, alice_token, synapse, bob_token, args.media_kb, 5)
        print(f"remote media {args.media_kb} KiB through Axon: first fetch median {first:.1f} ms, cached median {cached:.1f} ms")
    finally:
        axon.stop()
        synapse.stop()


if __name__ == "__main__":
    main()
