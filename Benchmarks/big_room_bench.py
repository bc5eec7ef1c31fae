#!/usr/bin/env python3
"""Big-room costs (issue 18): one room grown to each size in --sizes, and at each size the
server CPU of one message sent, one join and one leave, /members and /joined_members, and one
member's incremental /sync after one message. The incremental costs must stay flat as the
room grows. Server CPU is summed over the server's threads (schedstat) around each
request only; medians of --reps. Bounded: users are registered once (sizes ascending), every
loop runs a fixed number of times.

Usage: big_room_bench.py BASE_URL --server-pid PID [--server-pid POSTMASTER] --sizes 100,1000 [--reps 20] [--json FILE]
The server must run without rate limits (Axon: --no-rate-limits; Synapse: synapse-up.sh).
"""
import argparse
import concurrent.futures
import json
import statistics
import uuid

import requests

from server_cpu import cpu_ns


def cpu_ms(pids):
    return cpu_ns(*pids) / 1e6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("--server-pid", type=int, action="append", required=True, help="repeatable: the server and its PostgreSQL postmaster")
    p.add_argument("--sizes", default="100,1000")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--json")
    args = p.parse_args()
    base = args.base_url.rstrip("/") + "/_matrix/client/v3"
    sizes = sorted(int(s) for s in args.sizes.split(","))
    local = requests.Session()

    def register(session=local):
        name = "big" + uuid.uuid4().hex[:12]
        reply = session.post(base + "/register", json={"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}})
        reply.raise_for_status()
        return {"Authorization": "Bearer " + reply.json()["access_token"]}

    def measured(call):
        before = cpu_ms(args.server_pid)
        reply = call()
        after = cpu_ms(args.server_pid)
        reply.raise_for_status()
        return after - before, reply

    owner = register()
    room = local.post(base + "/createRoom", headers=owner, json={"preset": "public_chat"}).json()["room_id"]
    reader = register()
    local.post(f"{base}/rooms/{room}/join", headers=reader, json={}).raise_for_status()
    members = 2

    def add_member(_):
        session = requests.Session()
        user = register(session)
        session.post(f"{base}/rooms/{room}/join", headers=user, json={}).raise_for_status()

    results = []
    for size in sizes:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(add_member, range(size - members)))
        members = size
        row = {"members": size}
        samples = {k: [] for k in ("send", "join", "leave", "members_list", "joined_members", "incremental_sync")}
        since = local.get(base + "/sync", headers=reader, params={"timeout": 0, "filter": json.dumps({"room": {"timeline": {"limit": 10}, "state": {"lazy_load_members": True}}})}).json()["next_batch"]
        for rep in range(args.reps):
            cost, _ = measured(lambda: local.put(f"{base}/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}", headers=owner,
                                                 json={"msgtype": "m.text", "body": f"m{rep}"}))
            samples["send"].append(cost)
            cost, reply = measured(lambda: local.get(base + "/sync", headers=reader, params={"since": since, "timeout": 0}))
            samples["incremental_sync"].append(cost)
            since = reply.json()["next_batch"]
            guest = register()
            cost, _ = measured(lambda: local.post(f"{base}/rooms/{room}/join", headers=guest, json={}))
            samples["join"].append(cost)
            cost, _ = measured(lambda: local.post(f"{base}/rooms/{room}/leave", headers=guest, json={}))
            samples["leave"].append(cost)
            if rep < 5:
                cost, _ = measured(lambda: local.get(f"{base}/rooms/{room}/members", headers=reader))
                samples["members_list"].append(cost)
                cost, _ = measured(lambda: local.get(f"{base}/rooms/{room}/joined_members", headers=reader))
                samples["joined_members"].append(cost)
            since = local.get(base + "/sync", headers=reader, params={"since": since, "timeout": 0}).json()["next_batch"]
        for name, values in samples.items():
            row[name] = round(statistics.median(values), 2)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
