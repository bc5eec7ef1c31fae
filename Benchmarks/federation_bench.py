"""Federation measurements against real Synapses on loopback (the interop harness's setup):
message delivery latency Axon→Synapse and Synapse→Axon next to Synapse→Synapse in the same
run, the time for an Axon user to join Synapse rooms of 1 and 100 members, and inbound
throughput (a burst of messages from a Synapse user until Axon's client sees the last),
with Axon's CPU time for it. Run from the repository root:

    .venv/bin/python Benchmarks/federation_bench.py [--members 100,1000] [--messages 200]

AXON_BIN picks the binary (default: the debug build). Bounded: every wait has a deadline.
"""
import argparse
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))

from synapse_peer import SynapsePeer, axon_federating, call, make_certificates, new_workspace, register  # noqa: E402


def quoted(value):
    return urllib.parse.quote(value, safe="")


def sync_token(base, token):
    return call(base, "GET", "/_matrix/client/v3/sync", token, params={"timeout": "0"}).json()["next_batch"]


def wait_for(base, token, room_id, body, since, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        reply = call(base, "GET", "/_matrix/client/v3/sync", token, params={"since": since, "timeout": "5000"}).json()
        since = reply.get("next_batch", since)
        events = reply.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])
        if any(event.get("content", {}).get("body") == body for event in events):
            return since
    raise RuntimeError("message did not arrive: " + body)


def latency(sender, sender_token, receiver, receiver_token, room_id, count, label):
    since = sync_token(receiver.base_url, receiver_token)
    samples = []
    for index in range(count):
        body = f"{label} {index}"
        started = time.perf_counter()
        reply = call(sender.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/{label}-{index}",
                     sender_token, json={"msgtype": "m.text", "body": body})
        assert reply.status_code == 200, reply.text
        since = wait_for(receiver.base_url, receiver_token, room_id, body, since)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def shared_room(owner, owner_token, joiner, joiner_token):
    room_id = call(owner.base_url, "POST", "/_matrix/client/v3/createRoom", owner_token, json={"preset": "public_chat"}).json()["room_id"]
    joined = call(joiner.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(owner.server_name)}",
                  joiner_token, json={})
    assert joined.status_code == 200, joined.text
    return room_id


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", default="100,1000", help="room sizes to join, besides 1")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    workspace = new_workspace()
    certs = make_certificates(workspace)
    first = SynapsePeer(workspace, certs, "synapse-a")
    second = SynapsePeer(workspace, certs, "synapse-b")
    axon = axon_federating(workspace, certs)
    try:
        _, a_token = register(axon.base_url)
        _, s_token = register(first.base_url)
        _, t_token = register(second.base_url)

        room = shared_room(first, s_token, axon, a_token)
        peer_room = shared_room(first, s_token, second, t_token)
        results = {}
        results["Axon→Synapse"] = latency(axon, a_token, first, s_token, room, args.samples, "a2s")
        results["Synapse→Axon"] = latency(first, s_token, axon, a_token, room, args.samples, "s2a")
        results["Synapse→Synapse"] = latency(first, s_token, second, t_token, peer_room, args.samples, "s2s")
        for label, (median, worst) in results.items():
            print(f"latency {label}: median {median:.1f} ms, max {worst:.1f} ms over {args.samples}")

        # Joining Synapse rooms of 1 and N members; Synapse B joins the same room next, for
        # the same run's Synapse↔Synapse figure.
        for members in [1] + [int(size) for size in args.members.split(",")]:
            room_id = call(first.base_url, "POST", "/_matrix/client/v3/createRoom", s_token, json={"preset": "public_chat"}).json()["room_id"]
            for _ in range(members - 1):
                _, token = register(first.base_url)
                assert call(first.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}", token, json={}).status_code == 200
            _, joiner = register(axon.base_url)
            started = time.perf_counter()
            joined = call(axon.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(first.server_name)}",
                          joiner, json={})
            assert joined.status_code == 200, joined.text
            axon_ms = (time.perf_counter() - started) * 1000
            _, peer_joiner = register(second.base_url)
            started = time.perf_counter()
            joined = call(second.base_url, "POST", f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(first.server_name)}",
                          peer_joiner, json={})
            assert joined.status_code == 200, joined.text
            synapse_ms = (time.perf_counter() - started) * 1000
            print(f"join a Synapse room of {members} member(s): Axon {axon_ms:.0f} ms, Synapse {synapse_ms:.0f} ms")

        # Inbound burst: Synapse sends, Axon's client waits for the last.
        since = sync_token(axon.base_url, a_token)
        cpu_before = cpu_seconds(axon.process.pid)
        started = time.perf_counter()
        for index in range(args.messages):
            call(first.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room)}/send/m.room.message/burst-{index}", s_token,
                 json={"msgtype": "m.text", "body": f"burst {index}"})
        wait_for(axon.base_url, a_token, room, f"burst {args.messages - 1}", since, deadline=120)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(axon.process.pid) - cpu_before
        print(f"inbound burst: {args.messages} PDUs in {elapsed:.1f} s ({args.messages / elapsed:.0f} PDUs/s end to end); "
              f"Axon CPU {cpu:.2f} s ({args.messages / max(cpu, 0.001):.0f} PDUs per CPU-second, sync included)")
    finally:
        axon.stop()
        first.stop()
        second.stop()


if __name__ == "__main__":
    main()
