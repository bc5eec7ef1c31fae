#!/usr/bin/env python3
"""Incremental /sync cost against history size: one user joined to R rooms, each with H
messages of history; then one new message in one room, and an incremental /sync.

The claim under test (issue 4, DESIGN.md "One stream, one position"): an incremental sync
costs work proportional to what changed since the token, not to history or to the number of
rooms. Reports client latency (p50/p99) and, with --server-pid, server CPU per sync, for each
room count. Bounded: R rooms x H messages of setup, --reps syncs per size.

Usage: sync_cost.py BASE_URL --rooms 1 --rooms 1000 [--history 5] [--reps 50] [--server-pid PID]
"""
import argparse
import os
import statistics
import time
import uuid

import requests


def cpu_seconds(pid):
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("--rooms", type=int, action="append", required=True)
    p.add_argument("--history", type=int, default=5)
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--server-pid", type=int)
    args = p.parse_args()
    base = args.base_url.rstrip("/") + "/_matrix/client/v3"
    session = requests.Session()

    def register():
        name = "cost" + uuid.uuid4().hex[:10]
        reply = session.post(base + "/register", json={"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}})
        reply.raise_for_status()
        return {"Authorization": "Bearer " + reply.json()["access_token"]}

    print(f"{'rooms':>6} {'history':>8} {'p50 ms':>8} {'p99 ms':>8} {'server cpu ms/sync':>19}")
    for room_count in args.rooms:
        user = register()
        rooms = []
        for _ in range(room_count):
            room = session.post(base + "/createRoom", headers=user, json={"preset": "private_chat"}).json()["room_id"]
            for i in range(args.history):
                session.put(f"{base}/rooms/{room}/send/m.room.message/h{i}", headers=user, json={"msgtype": "m.text", "body": f"h{i}"})
            rooms.append(room)
        since = session.get(base + "/sync", headers=user, params={"timeout": 0}).json()["next_batch"]
        latencies = []
        cpu = 0.0
        for rep in range(args.reps):
            session.put(f"{base}/rooms/{rooms[rep % len(rooms)]}/send/m.room.message/n{rep}", headers=user,
                        json={"msgtype": "m.text", "body": "new"})
            before_cpu = cpu_seconds(args.server_pid)
            started = time.perf_counter()
            reply = session.get(base + "/sync", headers=user, params={"since": since, "timeout": 0})
            latencies.append((time.perf_counter() - started) * 1000)
            cpu += cpu_seconds(args.server_pid) - before_cpu
            body = reply.json()
            assert len(body["rooms"]["join"]) == 1, "exactly the one changed room"
            since = body["next_batch"]
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        cpu_text = f"{cpu * 1000 / args.reps:19.2f}" if args.server_pid else f"{'n/a':>19}"
        print(f"{room_count:>6} {args.history:>8} {statistics.median(latencies):8.2f} {p99:8.2f} {cpu_text}")


if __name__ == "__main__":
    main()
