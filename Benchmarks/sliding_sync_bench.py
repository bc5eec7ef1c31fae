#!/usr/bin/env python3
"""Simplified sliding sync (MSC4186) server cost against the number of rooms, Axon beside
Synapse in one run, on the requests Element X's room list sends.

For each server and each room count R: a fresh user in R rooms (each named, with one
message), then
  * first: the room-list connection's first request (range 0-19, timeline_limit 1, the
    SDK's required_state, account_data/receipts/typing extensions), a new connection each
    time;
  * incremental: one new message in a room outside the window, then the next request on the
    connection (timeout 0): the room must come back alone.
Server CPU is the sum over every thread of the server's on-CPU time (/proc/PID/task/*/
schedstat, nanoseconds), read around each request only, so the setup and the message sends
are not counted. Compare servers by the ratio from the same run, never by absolute times.

Usage:
  sliding_sync_bench.py --server axon=http://127.0.0.1:8008,PID [--server synapse=URL,PID]
                        --rooms 20 --rooms 1000 [--first-reps 10] [--incremental-reps 50]
Bounded: R rooms of setup per size, a fixed number of requests per measurement.
"""
import argparse
import concurrent.futures
import os
import statistics
import sys
import time
import uuid

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))

# Element X's room-list requests, as the interop test replays them.
from test_sliding_sync import ROOM_LIST_STATE, UNSTABLE  # noqa: E402
from server_cpu import cpu_ns  # noqa: E402


def room_list_body(conn_id):
    return {
        "conn_id": conn_id,
        "lists": {"all_rooms": {"ranges": [[0, 19]], "timeline_limit": 1, "required_state": ROOM_LIST_STATE}},
        "extensions": {"account_data": {"enabled": True}, "receipts": {"enabled": True, "rooms": ["*"]}, "typing": {"enabled": True}},
    }


class Server:
    def __init__(self, name, url, pid):
        self.name, self.url, self.pid = name, url.rstrip("/"), int(pid)
        self.session = requests.Session()

    def call(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reply = self.session.request(method, self.url + path, headers=headers, timeout=120, **kwargs)
        assert reply.status_code == 200, f"{self.name} {path}: {reply.status_code} {reply.text[:300]}"
        return reply.json()

    def register(self):
        name = "ss" + uuid.uuid4().hex[:10]
        body = {"username": name, "password": "bench password", "auth": {"type": "m.login.dummy"}}
        return self.call("POST", "/_matrix/client/v3/register", json=body)["access_token"]

    def measured(self, method, path, token, **kwargs):
        before = cpu_ns(self.pid)
        started = time.perf_counter()
        answer = self.call(method, path, token, **kwargs)
        elapsed = time.perf_counter() - started
        return answer, (cpu_ns(self.pid) - before) / 1e6, elapsed * 1000


def setup(server, rooms):
    token = server.register()

    def make(index):
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        room = session.post(server.url + "/_matrix/client/v3/createRoom", headers=headers,
                            json={"preset": "private_chat", "name": f"room {index}"}, timeout=120).json()["room_id"]
        session.put(f"{server.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/h{index}", headers=headers,
                    json={"msgtype": "m.text", "body": f"hello {index}"}, timeout=120).raise_for_status()
        return room

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        room_ids = list(pool.map(make, range(rooms)))
    return token, room_ids


def measure(server, rooms, first_reps, incremental_reps):
    started = time.monotonic()
    token, room_ids = setup(server, rooms)
    setup_seconds = time.monotonic() - started
    first_cpu, first_ms = [], []
    for rep in range(first_reps):
        answer, cpu, ms = server.measured("POST", UNSTABLE, token, json=room_list_body(f"bench{rep}"))
        assert answer["lists"]["all_rooms"]["count"] == rooms and len(answer["rooms"]) == min(rooms, 20)
        first_cpu.append(cpu)
        first_ms.append(ms)
    pos = server.call("POST", UNSTABLE, token, json=room_list_body("live"))["pos"]
    incremental_cpu, incremental_ms = [], []
    for rep in range(incremental_reps):
        # The oldest room each time: it must jump into the window.
        room = room_ids[rep % max(1, len(room_ids) - 20)]
        server.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/n{rep}", token,
                    json={"msgtype": "m.text", "body": f"new {rep}"})
        answer, cpu, ms = server.measured("POST", UNSTABLE + f"?pos={pos}&timeout=0", token, json=room_list_body("live"))
        assert list(answer.get("rooms", {})) == [room], f"{server.name}: expected only {room}, got {list(answer.get('rooms', {}))}"
        pos = answer["pos"]
        incremental_cpu.append(cpu)
        incremental_ms.append(ms)
    return {
        "setup_s": setup_seconds,
        "first_cpu": statistics.median(first_cpu), "first_ms": statistics.median(first_ms),
        "incremental_cpu": statistics.median(incremental_cpu), "incremental_ms": statistics.median(incremental_ms),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="append", required=True, help="name=URL,PID")
    parser.add_argument("--rooms", type=int, action="append", required=True)
    parser.add_argument("--first-reps", type=int, default=10)
    parser.add_argument("--incremental-reps", type=int, default=50)
    args = parser.parse_args()
    servers = []
    for spec in args.server:
        name, rest = spec.split("=", 1)
        url, pid = rest.rsplit(",", 1)
        servers.append(Server(name, url, pid))
    results = {}
    for rooms in args.rooms:
        for server in servers:
            results[(server.name, rooms)] = result = measure(server, rooms, args.first_reps, args.incremental_reps)
            print(f"{server.name:>8} rooms={rooms:<5} setup {result['setup_s']:.0f} s  first: cpu {result['first_cpu']:.2f} ms, "
                  f"latency {result['first_ms']:.2f} ms  incremental: cpu {result['incremental_cpu']:.2f} ms, "
                  f"latency {result['incremental_ms']:.2f} ms", flush=True)
    print()
    print("| server | rooms | first response: server CPU ms | latency ms | incremental: server CPU ms | latency ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, rooms), r in results.items():
        print(f"| {name} | {rooms} | {r['first_cpu']:.2f} | {r['first_ms']:.2f} | {r['incremental_cpu']:.2f} | {r['incremental_ms']:.2f} |")
    if len(servers) > 1:
        base = servers[0].name
        for other in servers[1:]:
            for rooms in args.rooms:
                a, b = results[(base, rooms)], results[(other.name, rooms)]
                print(f"{other.name} / {base} at {rooms} rooms: first {b['first_cpu'] / a['first_cpu']:.1f}x, "
                      f"incremental {b['incremental_cpu'] / a['incremental_cpu']:.1f}x server CPU")


if __name__ == "__main__":
    main()
