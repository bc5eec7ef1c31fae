"""synadm (from PyPI, unchanged) administering a running Axon through Synapse's admin API:
its printed JSON is read back and checked."""
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import uuid

import requests

from conftest import ROOT, SHARED_SECRET

SYNADM = os.path.join(ROOT, ".venv", "bin", "synadm")


def register_admin(axon):
    """An admin account through shared-secret registration (`/_synapse/admin/v1/register`)."""
    nonce = requests.get(axon.base_url + "/_synapse/admin/v1/register", timeout=30).json()["nonce"]
    name = "admin" + uuid.uuid4().hex[:8]
    password = "admin password"
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(), b"admin"]))
    reply = requests.post(axon.base_url + "/_synapse/admin/v1/register", timeout=30, json={
        "nonce": nonce, "username": name, "password": password, "admin": True, "mac": mac.hexdigest()})
    assert reply.status_code == 200, reply.text
    return reply.json()


def synadm(axon, admin, *args):
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"user: '{admin['user_id']}'\ntoken: '{admin['access_token']}'\nbase_url: '{axon.base_url}'\n"
                 "homeserver: localhost\nformat: json\nadmin_path: /_synapse/admin\nmatrix_path: /_matrix\n"
                 "timeout: 30\nssl_verify: false\n")
    config.close()
    done = subprocess.run([SYNADM, "--batch", "-c", config.name, "-o", "json", *args], capture_output=True, text=True, timeout=60)
    os.unlink(config.name)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def printed_documents(output):
    """Every JSON document synadm printed, in order (it also prints lines of its own)."""
    documents, index, decoder = [], 0, json.JSONDecoder()
    while index < len(output):
        if output[index] in "{[":
            document, index = decoder.raw_decode(output, index)
            documents.append(document)
        else:
            index += 1
    return documents


def printed_json(output):
    return printed_documents(output)[-1]


def user(axon, name):
    reply = requests.post(axon.base_url + "/_matrix/client/v3/register", timeout=30,
                          json={"username": name, "password": "user password", "auth": {"type": "m.login.dummy"}})
    if reply.status_code == 401:
        reply = requests.post(axon.base_url + "/_matrix/client/v3/register", timeout=30, json={
            "username": name, "password": "user password", "auth": {"type": "m.login.dummy", "session": reply.json()["session"]}})
    assert reply.status_code == 200, reply.text
    return reply.json()["user_id"]


def test_synadm_manages_users(axon):
    admin = register_admin(axon)
    assert "Axon" in synadm(axon, admin, "version")
    alice = user(axon, "alice" + uuid.uuid4().hex[:6])
    bob = user(axon, "bob" + uuid.uuid4().hex[:6])

    listed = printed_json(synadm(axon, admin, "user", "list"))
    names = [entry["name"] for entry in listed["users"]]
    assert alice in names and bob in names and admin["user_id"] in names
    assert listed["total"] == len(names)

    details = printed_json(synadm(axon, admin, "user", "details", alice))
    assert details["name"] == alice and details["deactivated"] is False and details["admin"] is False

    modified = printed_json(synadm(axon, admin, "user", "modify", alice, "--display-name", "Alice Admin", "--admin"))
    assert modified["displayname"] == "Alice Admin" and modified["admin"] is True
    assert printed_json(synadm(axon, admin, "user", "details", alice))["displayname"] == "Alice Admin"

    synadm(axon, admin, "user", "deactivate", bob)
    assert printed_json(synadm(axon, admin, "user", "details", bob))["deactivated"] is True
    login = requests.post(axon.base_url + "/_matrix/client/v3/login", timeout=30, json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": bob}, "password": "user password"})
    assert login.status_code == 403
    remaining = [entry["name"] for entry in printed_json(synadm(axon, admin, "user", "list"))["users"]]
    assert bob not in remaining and alice in remaining


def test_synadm_reads_a_rooms_details(axon):
    admin = register_admin(axon)
    room_id = requests.post(axon.base_url + "/_matrix/client/v3/createRoom", timeout=30,
                            headers={"Authorization": f"Bearer {admin['access_token']}"},
                            json={"preset": "public_chat", "name": "Admin lobby"}).json()["room_id"]
    details = printed_json(synadm(axon, admin, "room", "details", room_id))
    assert details["room_id"] == room_id and details["name"] == "Admin lobby"
    assert details["joined_members"] == 1 and details["creator"] == admin["user_id"]
    members = printed_json(synadm(axon, admin, "room", "members", room_id))
    assert members["members"] == [admin["user_id"]]


def authorized(token):
    return {"Authorization": f"Bearer {token}"}


def login(axon, user_id, password="user password"):
    reply = requests.post(axon.base_url + "/_matrix/client/v3/login", timeout=30, json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


def test_synadm_lists_and_deletes_rooms(axon):
    admin = register_admin(axon)
    alice = user(axon, "alice" + uuid.uuid4().hex[:6])
    alice_token = login(axon, alice)
    marker = "Doomed " + uuid.uuid4().hex[:6]
    room_id = requests.post(axon.base_url + "/_matrix/client/v3/createRoom", timeout=30, headers=authorized(alice_token),
                            json={"preset": "public_chat", "name": marker}).json()["room_id"]

    listed = printed_json(synadm(axon, admin, "room", "list"))
    assert room_id in [room["room_id"] for room in listed["rooms"]] and listed["total_rooms"] >= 1
    searched = printed_json(synadm(axon, admin, "room", "list", "--name", marker))
    assert [room["room_id"] for room in searched["rooms"]] == [room_id]
    assert searched["rooms"][0]["joined_members"] == 1

    # synadm's default is the v2 API: a delete_id, then the status it polls.
    started = printed_json(synadm(axon, admin, "room", "delete", room_id, "--block"))
    delete_id = started["delete_id"]
    status = {}
    for _ in range(100):
        status = printed_json(synadm(axon, admin, "room", "delete-status", "--delete-id", delete_id))
        if status["status"] in ("complete", "failed"):
            break
    assert status["status"] == "complete", status
    assert status["shutdown_room"]["kicked_users"] == [alice]
    assert room_id not in [room["room_id"] for room in printed_json(synadm(axon, admin, "room", "list"))["rooms"]]
    joined = requests.get(axon.base_url + "/_matrix/client/v3/joined_rooms", timeout=30, headers=authorized(alice_token)).json()
    assert room_id not in joined["joined_rooms"]
    rejoin = requests.post(axon.base_url + f"/_matrix/client/v3/join/{room_id}", timeout=30, headers=authorized(alice_token), json={})
    assert rejoin.status_code == 403


def test_synadm_lists_and_quarantines_media(axon):
    admin = register_admin(axon)
    alice = user(axon, "alice" + uuid.uuid4().hex[:6])
    alice_token = login(axon, alice)
    uploaded = requests.post(axon.base_url + "/_matrix/media/v3/upload?filename=note.txt", timeout=30, data=b"quarantine me",
                             headers={**authorized(alice_token), "Content-Type": "text/plain"})
    assert uploaded.status_code == 200, uploaded.text
    uri = uploaded.json()["content_uri"]
    media_id = uri.rsplit("/", 1)[1]

    listed = printed_json(synadm(axon, admin, "media", "list", "--user-id", alice))
    assert listed["total"] == 1 and listed["media"][0]["media_id"] == media_id
    assert listed["media"][0]["upload_name"] == "note.txt" and listed["media"][0]["quarantined_by"] is None

    download = axon.base_url + f"/_matrix/client/v1/media/download/localhost/{media_id}"
    assert requests.get(download, timeout=30, headers=authorized(alice_token)).status_code == 200
    synadm(axon, admin, "media", "quarantine", "--media-id", media_id)
    assert requests.get(download, timeout=30, headers=authorized(alice_token)).status_code == 404
    relisted = printed_json(synadm(axon, admin, "media", "list", "--user-id", alice))
    assert relisted["media"][0]["quarantined_by"] == admin["user_id"]
