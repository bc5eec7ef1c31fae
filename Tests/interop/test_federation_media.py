"""Media across servers: a file uploaded on Synapse is downloaded (and thumbnailed) through
Axon's authenticated client endpoints, which fetch it with /_matrix/federation/v1/media/*
and serve later requests from their cache; and Synapse fetches Axon's uploads from Axon's
federation media endpoints."""
import os
import struct
import time
import zlib

import pytest
import requests

from synapse_peer import axon_and_synapse, register, synapse_available

pytestmark = pytest.mark.skipif(not synapse_available(), reason="Synapse is installed by scripts/test into .venv-synapse")


@pytest.fixture(scope="module")
def peers():
    yield from axon_and_synapse()


def png(width=64, height=48):
    """A solid-colour RGB PNG, written by hand (no imaging library needed)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes((200, 30, 90)) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def upload(base, token, data, content_type, filename):
    reply = requests.post(base + "/_matrix/media/v3/upload", params={"filename": filename}, data=data,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()["content_uri"][len("mxc://"):]


def download(base, token, server_and_id, suffix=""):
    return requests.get(f"{base}/_matrix/client/v1/media/download/{server_and_id}{suffix}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_synapse_media_through_axon_is_fetched_once_then_cached(peers):
    axon, synapse = peers
    _, alice_token = register(axon.base_url)
    _, bob_token = register(synapse.base_url)
    body = os.urandom(300_000)
    media = upload(synapse.base_url, bob_token, body, "application/octet-stream", "blob.bin")

    started = time.time()
    first = download(axon.base_url, alice_token, media)
    first_ms = (time.time() - started) * 1000
    assert first.status_code == 200, first.text
    assert first.content == body
    assert "blob.bin" in first.headers.get("Content-Disposition", "")

    # Synapse stopped: Axon still serves its copy.
    synapse.pause()
    try:
        started = time.time()
        cached = download(axon.base_url, alice_token, media)
        cached_ms = (time.time() - started) * 1000
        assert cached.status_code == 200 and cached.content == body
        # Media never fetched cannot be served while its server is down: a gateway error.
        missing = download(axon.base_url, alice_token, media.split("/")[0] + "/neverUploaded")
        assert missing.status_code in (502, 504), missing.text
        assert missing.json()["errcode"]
    finally:
        synapse.restart()
    print(f"remote media 300 kB: first fetch {first_ms:.1f} ms, cached {cached_ms:.1f} ms")


def test_thumbnails_and_unknown_media_of_a_remote_server(peers):
    axon, synapse = peers
    _, alice_token = register(axon.base_url)
    _, bob_token = register(synapse.base_url)
    media = upload(synapse.base_url, bob_token, png(), "image/png", "pic.png")
    thumb = requests.get(f"{axon.base_url}/_matrix/client/v1/media/thumbnail/{media}",
                         params={"width": 32, "height": 32, "method": "scale"},
                         headers={"Authorization": f"Bearer {alice_token}"}, timeout=60)
    assert thumb.status_code == 200, thumb.text
    assert thumb.headers["Content-Type"].startswith("image/")
    unknown = download(axon.base_url, alice_token, media.split("/")[0] + "/doesNotExist")
    assert unknown.status_code == 404 and unknown.json()["errcode"] == "M_NOT_FOUND"


def test_synapse_fetches_axon_media_over_federation(peers):
    axon, synapse = peers
    _, alice_token = register(axon.base_url)
    _, bob_token = register(synapse.base_url)
    body = png(80, 60)
    media = upload(axon.base_url, alice_token, body, "image/png", "from-axon.png")
    fetched = download(synapse.base_url, bob_token, media)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == body
    thumb = requests.get(f"{synapse.base_url}/_matrix/client/v1/media/thumbnail/{media}",
                         params={"width": 32, "height": 32, "method": "crop"},
                         headers={"Authorization": f"Bearer {bob_token}"}, timeout=60)
    assert thumb.status_code == 200, thumb.text
