#!/usr/bin/env python3
"""Big-account costs (issue 18): U measured users, each in R rooms of M members with K
messages per room, grown to each room count in --rooms. At each size:
  * initial /sync with the default filter, and lazy-loaded (`lazy_load_members`);
  * one message in one room, then one user's incremental /sync (must stay flat in R);
  * legacy /initialSync?limit=1.
With --users 1 it is the big account (1,000 rooms × 50 members × 20 messages); with more
users it is the SBRC 2026 shape (every user's initial sync, run four at a time), scaled to
this machine. Server CPU is summed over the server's threads (schedstat) around the
measured requests only; per-request figures are medians of --reps, the all-users passes
are totals. Run it against Axon and Synapse in one run and compare by ratio.

Usage: account_bench.py BASE_URL --server-pid PID [--server-pid POSTMASTER] --rooms 100,1000 [--users 1] [--members 50]
                        [--messages 20] [--reps 10] [--json FILE]
Bounded: every room is created once (sizes ascending) and every loop has a fixed count.
The server must run without rate limits (Axon: --no-rate-limits; Synapse: synapse-up.sh).
"""
import argparse
import concurrent.futures
import json
import statistics
import threading
import time
import uuid

import requests

from server_cpu import cpu_ns

LAZY = json.dumps({"room": {"state": {"lazy_load_members": True}}})
THREADS = 4


class Client:
    """One session per thread: requests' sessions are not thread-safe."""

    def __init__(self, base):
        self.base = base.rstrip("/") + "/_matrix/client"
        self.local = threading.local()
        self.user_ids = {}

    def call(self, method, path, token=None, **kwargs):
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = {"Authorization": "Bearer " + token} if token else {}
        reply = session.request(method, self.base + path, headers=headers, timeout=600, **kwargs)
        assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text[:300]}"
        return reply.json()

    def register(self, prefix):
        body = {"username": prefix + uuid.uuid4().hex[:10], "password": "bench password", "auth": {"type": "m.login.dummy"}}
        reply = self.call("POST", "/v3/register", json=body)
        self.user_ids[reply["access_token"]] = reply["user_id"]
        return reply["access_token"]

    def new_device(self, token):
        """A fresh login of the token's user. Synapse answers a repeated identical /sync from
        its response cache (sync_response_cache_duration, 2 minutes by default), so every
        measured initial sync is made by a device of its own."""
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": self.user_ids[token]}, "password": "bench password"}
        return self.call("POST", "/v3/login", json=body)["access_token"]


def parallel(function, items):
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(function, items))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("--server-pid", type=int, action="append", required=True, help="repeatable: the server and its PostgreSQL postmaster")
    p.add_argument("--rooms", default="100,1000")
    p.add_argument("--users", type=int, default=1)
    p.add_argument("--members", type=int, default=50)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--json")
    args = p.parse_args()
    assert args.members > args.users, "every room needs at least one member besides the measured users"
    client = Client(args.base_url)
    pids = args.server_pid

    def measured(call):
        before = cpu_ns(*pids)
        result = call()
        return (cpu_ns(*pids) - before) / 1e6, result

    users = parallel(lambda _: client.register("acct"), range(args.users))
    fillers = parallel(lambda _: client.register("fill"), range(args.members - args.users))
    rooms = []

    def add_room(index):
        creator = fillers[index % len(fillers)]
        room = client.call("POST", "/v3/createRoom", creator, json={"preset": "public_chat", "name": f"room {index}"})["room_id"]
        for token in users + fillers:
            if token != creator:
                client.call("POST", f"/v3/rooms/{room}/join", token, json={})
        for n in range(args.messages):
            sender = fillers[n % len(fillers)]
            client.call("PUT", f"/v3/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}", sender, json={"msgtype": "m.text", "body": f"message {n} in room {index}"})
        return room

    results = []
    for size in sorted(int(s) for s in args.rooms.split(",")):
        started = time.time()
        rooms += parallel(add_room, range(len(rooms), size))
        row = {"rooms": size, "members": args.members, "messages": args.messages, "users": args.users, "seed_s": round(time.time() - started)}
        first = users[0]
        for name, params in (("initial_sync", {"timeout": 0}), ("initial_sync_lazy", {"timeout": 0, "filter": LAZY})):
            devices = [client.new_device(first) for _ in range(min(args.reps, 3))]
            samples = [measured(lambda: client.call("GET", "/v3/sync", device, params=params))[0] for device in devices]
            row[name] = round(statistics.median(samples), 1)
            if args.users > 1:
                devices = parallel(client.new_device, users)
                before, wall = cpu_ns(*pids), time.time()
                parallel(lambda token: client.call("GET", "/v3/sync", token, params=params), devices)
                row[name + "_all_users_cpu_s"] = round((cpu_ns(*pids) - before) / 1e9, 2)
                row[name + "_all_users_wall_s"] = round(time.time() - wall, 2)
        since = client.call("GET", "/v3/sync", first, params={"timeout": 0, "filter": LAZY})["next_batch"]
        samples = []
        for rep in range(args.reps):
            client.call("PUT", f"/v3/rooms/{rooms[rep % len(rooms)]}/send/m.room.message/{uuid.uuid4().hex}", fillers[0], json={"msgtype": "m.text", "body": f"new {rep}"})
            cost, reply = measured(lambda: client.call("GET", "/v3/sync", first, params={"since": since, "timeout": 0, "filter": LAZY}))
            assert rooms[rep % len(rooms)] in reply.get("rooms", {}).get("join", {}), "the incremental sync lost the new message"
            samples.append(cost)
            since = reply["next_batch"]
        row["incremental_sync"] = round(statistics.median(samples), 2)
        samples = [measured(lambda: client.call("GET", "/v3/initialSync", first, params={"limit": 1}))[0] for _ in range(min(args.reps, 3))]
        row["legacy_initial_sync_limit1"] = round(statistics.median(samples), 1)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
