"""Two Axon nodes of one server (one PostgreSQL database) in a room with a real Synapse: each
node's local sends are queued in the shared outbox, and exactly one node at a time sends to
Synapse (the destination lease), so every event arrives once and in order."""
import os
import re
import shutil
import time
import urllib.parse

import pytest

from conftest import create_postgres_database, drop_postgres_database
from synapse_peer import SynapsePeer, axon_federating, call, make_certificates, new_workspace, register, synapse_available

pytestmark = [
    pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse"),
    pytest.mark.skipif(os.environ.get("AXON_TEST_STORAGE") != "postgres",
                       reason="several nodes need the PostgreSQL backend (run in the PostgreSQL interop pass)"),
]


def quoted(value):
    return urllib.parse.quote(value, safe="")


def test_two_nodes_send_to_synapse_through_one_lease():
    workspace = new_workspace()
    certs = make_certificates(workspace)
    database = create_postgres_database()
    synapse = SynapsePeer(workspace, certs)
    nodes = []
    try:
        first = axon_federating(workspace, certs, "--database", database, own_database=False)
        nodes.append(first)
        key = os.path.join(first.data_dir, "signing.key")
        second = axon_federating(workspace, certs, "--database", database, "--signing-key", key,
                                 server_name=first.server_name, own_database=False)
        nodes.append(second)

        bob, bob_token = register(synapse.base_url)
        room_id = call(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", bob_token,
                       json={"preset": "public_chat"}).json()["room_id"]
        alice, alice_token = register(first.base_url)
        joined = call(second.base_url, "POST",
                      f"/_matrix/client/v3/join/{quoted(room_id)}?server_name={quoted(synapse.server_name)}", alice_token, json={})
        assert joined.status_code == 200, joined.text

        # Alice's client talks to both nodes in turn, as behind a load balancer.
        expected = [f"message {index}" for index in range(30)]
        for index, body in enumerate(expected):
            node = (first, second)[index % 2]
            reply = call(node.base_url, "PUT", f"/_matrix/client/v3/rooms/{quoted(room_id)}/send/m.room.message/n{index}",
                         alice_token, json={"msgtype": "m.text", "body": body})
            assert reply.status_code == 200, reply.text

        deadline = time.time() + 60
        bodies = []
        while time.time() < deadline:
            page = call(synapse.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted(room_id)}/messages", bob_token,
                        params={"dir": "b", "limit": "100"}).json()
            bodies = [event["content"].get("body") for event in reversed(page.get("chunk", []))
                      if event.get("type") == "m.room.message" and event.get("sender") == alice]
            if len(bodies) >= len(expected):
                break
            time.sleep(0.5)
        assert bodies == expected, bodies

        # Synapse's access log names each transaction Axon sent ("<node>-<first queue entry>"):
        # no queue entry was sent by both nodes, and both queues' entries went out.
        log = open(os.path.join(synapse.dir, "homeserver.log")).read()
        sent = re.findall(r"PUT /_matrix/federation/v1/send/(node-[A-Za-z0-9]+)-(\d+)", log)
        senders_by_entry = {}
        for sender, entry in sent:
            senders_by_entry.setdefault(entry, set()).add(sender)
        assert sent, log[-3000:]
        assert all(len(senders) == 1 for senders in senders_by_entry.values()), senders_by_entry
    finally:
        for node in nodes:
            node.stop()
        synapse.stop()
        drop_postgres_database(database)
        shutil.rmtree(workspace, ignore_errors=True)
