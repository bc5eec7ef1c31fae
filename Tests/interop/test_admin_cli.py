"""`axon admin` on the database of a running Axon: what it prints, and that the running
server sees what it changed."""
import json
import subprocess
import uuid

import requests

from test_admin_synadm import authorized, login, user


def axon_admin(axon, *args, check=True):
    database = ["--database", axon.database] if axon.database else []
    done = subprocess.run([axon.binary, "admin", *args, "--data-dir", axon.data_dir, *database],
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_admin_commands_change_what_the_server_serves(axon):
    name = "carol" + uuid.uuid4().hex[:6]
    created = axon_admin(axon, "users", "create", name, "first password", "--admin").stdout
    user_id = f"@{name}:localhost"
    assert created.strip() == f"Created admin user {user_id}"
    listed = [line.split("\t") for line in axon_admin(axon, "users", "list", "--admins").stdout.splitlines()]
    assert [user_id, "admin", "active", name] in listed

    axon_admin(axon, "users", "reset-password", name, "second password")
    token = login(axon, user_id, "second password")
    axon_admin(axon, "users", "make-admin", user_id, "--revoke")
    assert requests.get(axon.base_url + "/_synapse/admin/v2/users", timeout=30, headers=authorized(token)).status_code == 403

    room_id = requests.post(axon.base_url + "/_matrix/client/v3/createRoom", timeout=30, headers=authorized(token),
                            json={"preset": "public_chat", "name": "CLI room"}).json()["room_id"]
    event_id = requests.put(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1", timeout=30,
                            headers=authorized(token), json={"msgtype": "m.text", "body": "report me"}).json()["event_id"]
    requests.post(axon.base_url + f"/_matrix/client/v3/rooms/{room_id}/report/{event_id}", timeout=30,
                  headers=authorized(token), json={"reason": "testing the CLI"})
    rooms = [line.split("\t") for line in axon_admin(axon, "rooms", "list", "--search", "CLI room").stdout.splitlines()]
    assert rooms == [[room_id, "1", "1", "CLI room", ""]]
    reports = [line.split("\t") for line in axon_admin(axon, "reports", "list").stdout.splitlines()]
    report = next(row for row in reports if row[4] == event_id)
    assert report[2] == user_id and report[6] == "testing the CLI"
    shown = json.loads(axon_admin(axon, "reports", "show", report[0]).stdout)
    assert shown["event_id"] == event_id and shown["room_id"] == room_id

    uploaded = requests.post(axon.base_url + "/_matrix/media/v3/upload", timeout=30, data=b"cli media",
                             headers={**authorized(token), "Content-Type": "text/plain"}).json()["content_uri"]
    assert axon_admin(axon, "media", "quarantine", uploaded).stdout.strip() == f"Quarantined {uploaded}"
    download = axon.base_url + "/_matrix/client/v1/media/download/" + uploaded[len("mxc://"):]
    assert requests.get(download, timeout=30, headers=authorized(token)).status_code == 404

    deleted = json.loads(axon_admin(axon, "rooms", "delete", room_id, "--block").stdout)
    assert deleted["kicked_users"] == [user_id]
    joined = requests.get(axon.base_url + "/_matrix/client/v3/joined_rooms", timeout=30, headers=authorized(token)).json()
    assert room_id not in joined["joined_rooms"]

    axon_admin(axon, "users", "deactivate", user_id)
    refused = requests.post(axon.base_url + "/_matrix/client/v3/login", timeout=30, json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": "second password"})
    assert refused.status_code == 403
    missing = axon_admin(axon, "users", "deactivate", "nobody" + uuid.uuid4().hex[:6], check=False)
    assert missing.returncode != 0 and "No user" in missing.stderr
