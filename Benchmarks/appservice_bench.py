"""Delivery to an application service on loopback: latency from a user's PUT /send to the
service receiving the transaction that carries the event, one message at a time, and the
throughput of a burst (messages sent as fast as one client can, until the service has them
all). The service is a small threaded HTTP server here that answers 200 to every
transaction. Run from the repository root:

    .venv/bin/python Benchmarks/appservice_bench.py [--rounds 50] [--burst 500]

AXON_BIN picks the binary (default: the debug build). Bounded: every wait has a deadline.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "interop"))

import requests  # noqa: E402

from conftest import AxonProcess  # noqa: E402
from test_admin_synadm import authorized, login, user  # noqa: E402


class Service:
    """Records when each event ID arrived, and how many transactions there were."""

    def __init__(self):
        self.arrived = {}
        self.transactions = 0
        self.lock = threading.Lock()
        # Cleared, the service holds its answers: Axon's backlog builds up behind one transaction.
        self.gate = threading.Event()
        self.gate.set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.perf_counter()
                with owner.lock:
                    owner.transactions += 1
                    for event in body.get("events", []):
                        owner.arrived.setdefault(event["event_id"], now)
                owner.gate.wait(120)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event_ids, deadline=60):
        end = time.time() + deadline
        while time.time() < end:
            with self.lock:
                if all(event_id in self.arrived for event_id in event_ids):
                    return
            time.sleep(0.001)
        raise RuntimeError("events did not reach the service")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()
    service = Service()
    directory = tempfile.mkdtemp(prefix="axon-as-bench-")
    registration = os.path.join(directory, "registration.yaml")
    with open(registration, "w") as file:
        file.write(f"""id: bench
url: "http://127.0.0.1:{service.server.server_address[1]}"
as_token: as-bench
hs_token: hs-bench
sender_localpart: _bench_bot
namespaces:
  users: [{{exclusive: true, regex: "@_bench_.*:localhost"}}]
rate_limited: false
""")
    config = os.path.join(directory, "axon.yaml")
    with open(config, "w") as file:
        file.write(f"app_service_config_files: ['{registration}']\n")
    axon = AxonProcess("--config", config, "--no-rate-limits")
    try:
        alice = user(axon, "alice" + uuid.uuid4().hex[:6])
        token = login(axon, alice)
        session = requests.Session()
        room_id = session.post(axon.base_url + "/_matrix/client/v3/createRoom", headers=authorized(token), json={}).json()["room_id"]
        bot = {"Authorization": "Bearer as-bench"}
        session.post(axon.base_url + "/_matrix/client/v3/register", headers=bot,
                     json={"type": "m.login.application_service", "username": "_bench_puppet", "inhibit_login": True})
        session.post(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/invite", headers=authorized(token),
                     json={"user_id": "@_bench_puppet:localhost"})
        session.post(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/join?user_id=%40_bench_puppet%3Alocalhost", headers=bot, json={})

        def send(index, label):
            started = time.perf_counter()
            reply = session.put(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{label}{index}",
                                headers=authorized(token), json={"msgtype": "m.text", "body": f"{label} {index}"})
            return reply.json()["event_id"], started

        samples = []
        for index in range(args.rounds):
            event_id, started = send(index, "latency")
            service.wait([event_id])
            samples.append((service.arrived[event_id] - started) * 1000)
        before = service.transactions
        started = time.perf_counter()
        sent = [send(index, "burst")[0] for index in range(args.burst)]
        send_done = time.perf_counter()
        service.wait(sent)
        finished = max(service.arrived[event_id] for event_id in sent)
        # Backlog: the service holds its answer while a burst queues up, then lets go; the
        # drain is Axon's delivery rate with full transactions (up to 100 events each).
        service.gate.clear()
        held = service.transactions
        backlog = [send(index, "backlog")[0] for index in range(args.burst)]
        released = time.perf_counter()
        service.gate.set()
        service.wait(backlog)
        drained = max(service.arrived[event_id] for event_id in backlog) - released
        print(f"backlog of {args.burst}: drained in {drained * 1000:.0f} ms ({args.burst / drained:.0f} events/s) "
              f"in {service.transactions - held} transactions")
        print(f"latency over {args.rounds} messages: median {statistics.median(samples):.1f} ms, "
              f"p90 {sorted(samples)[int(len(samples) * 0.9) - 1]:.1f} ms, max {max(samples):.1f} ms")
        print(f"burst of {args.burst}: sent in {send_done - started:.2f} s, all delivered after {finished - started:.2f} s "
              f"({args.burst / (finished - started):.0f} events/s) in {service.transactions - before} transactions, "
              f"last one {(finished - send_done) * 1000:.0f} ms after the last send")
    finally:
        axon.stop()
        service.server.shutdown()


if __name__ == "__main__":
    main()
