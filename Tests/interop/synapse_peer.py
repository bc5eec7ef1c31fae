"""A real Synapse (from PyPI, in .venv-synapse) federating with a real Axon on loopback.

Everything is made in a temp dir: a throwaway CA and one leaf certificate for DNS:localhost
(Synapse accepts nothing else), Synapse's config, Axon's config. Both servers are named with a
port (`localhost:<port>`), so neither does well-known or SRV lookups, and both are fenced to
127.0.0.0/8. The facts behind each setting are in ../shared/FEDERATION-TESTING.md.
"""
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import requests

from conftest import ROOT, AxonProcess, free_port

SYNAPSE_PYTHON = os.path.join(ROOT, ".venv-synapse", "bin", "python")


def synapse_available():
    return os.path.exists(SYNAPSE_PYTHON)


def make_certificates(directory):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=Axon interop CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    with open(os.path.join(directory, "leaf.ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt",
        "-days", "2", "-extfile", "leaf.ext")
    return {name: os.path.join(directory, name) for name in ("ca.crt", "leaf.crt", "leaf.key")}


class SynapsePeer:
    def __init__(self, directory, certs, name="synapse"):
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir)
        self.federation_port = free_port()
        self.client_port = free_port()
        self.server_name = f"localhost:{self.federation_port}"
        self.base_url = f"http://127.0.0.1:{self.client_port}"
        config = os.path.join(self.dir, "homeserver.yaml")
        subprocess.run([SYNAPSE_PYTHON, "-m", "synapse.app.homeserver", "--server-name", self.server_name,
                        "--config-path", config, "--data-directory", self.dir, "--generate-config",
                        "--report-stats=no"], check=True, capture_output=True, cwd=self.dir)
        # Later keys win in YAML as Synapse loads it: these replace the generated ones.
        with open(config, "a") as out:
            out.write(f"""
listeners:
  - port: {self.federation_port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    resources: [{{names: [client, federation]}}]
  - port: {self.client_port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources: [{{names: [client]}}]
tls_certificate_path: {certs['leaf.crt']}
tls_private_key_path: {certs['leaf.key']}
federation_custom_ca_list: [{certs['ca.crt']}]
ip_range_whitelist: ['127.0.0.0/8']
federation_ip_range_blacklist: []
trusted_key_servers: []
enable_registration: true
enable_registration_without_verification: true
bcrypt_rounds: 4
url_preview_enabled: false
report_stats: false
presence:
  enabled: true
allow_public_rooms_over_federation: true
room_list_publication_rules: [{{action: allow}}]
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login: {{address: {{per_second: 1000, burst_count: 1000}}, account: {{per_second: 1000, burst_count: 1000}}, failed_attempts: {{per_second: 1000, burst_count: 1000}}}}
rc_joins: {{local: {{per_second: 1000, burst_count: 1000}}, remote: {{per_second: 1000, burst_count: 1000}}}}
rc_joins_per_room: {{per_second: 1000, burst_count: 1000}}
rc_federation: {{window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100}}
# A peer that was down is retried within a second, not after Synapse's default 10 minutes.
federation:
  destination_min_retry_interval: 500
  destination_retry_multiplier: 1
  destination_max_retry_interval: 1000
""")
        self.config = config
        self.log = open(os.path.join(self.dir, "stdout.log"), "w")
        self._start()

    def _start(self):
        self.process = subprocess.Popen([SYNAPSE_PYTHON, "-m", "synapse.app.homeserver", "-c", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("synapse exited: " + self.log_tail())
            try:
                if requests.get(self.base_url + "/_matrix/client/versions", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError("synapse did not start within 60 s: " + self.log_tail())

    def log_tail(self):
        path = os.path.join(self.dir, "homeserver.log")
        text = open(path).read() if os.path.exists(path) else open(os.path.join(self.dir, "stdout.log")).read()
        return text[-4000:]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()

    def restart(self):
        """A restart forgets Synapse's in-memory outbound queues: afterwards it catches a peer up
        with the newest event of each room only."""
        self.pause()
        self._start()

    def pause(self):
        """Stops the process only (the log stays open): `restart()` brings it back."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def axon_federating(directory, certs, *extra_args, server_name=None, own_database=True):
    """An Axon whose federation listener speaks TLS with the test CA's leaf. Another node of
    the same server passes its `server_name` (and database and signing key in `extra_args`)."""
    federation_port = free_port()
    server_name = server_name or f"localhost:{federation_port}"
    config = os.path.join(directory, f"axon-{federation_port}.yaml")
    with open(config, "w") as out:
        out.write(f"""
tls_certificate_path: {certs['leaf.crt']}
tls_private_key_path: {certs['leaf.key']}
federation_port: {federation_port}
federation_custom_ca_file: {certs['ca.crt']}
federation_ip_range_whitelist: ['127.0.0.0/8']
federation_ip_range_whitelist_only: true
""")
    server = AxonProcess("--no-rate-limits", "--config", config, "--server-name", server_name, *extra_args,
                         own_database=own_database)
    server.server_name = server_name
    return server


def register(base_url, name=None):
    name = name or "u" + uuid.uuid4().hex[:10]
    body = {"username": name, "password": "interop password", "auth": {"type": "m.login.dummy"}}
    reply = requests.post(base_url + "/_matrix/client/v3/register", json=body, timeout=30)
    if reply.status_code == 401:
        body["auth"]["session"] = reply.json()["session"]
        reply = requests.post(base_url + "/_matrix/client/v3/register", json=body, timeout=30)
    reply.raise_for_status()
    data = reply.json()
    return data["user_id"], data["access_token"]


def call(base_url, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base_url + path, headers=headers, timeout=60, **kwargs)


def quoted(value):
    """A path segment: every reserved character percent-encoded."""
    return urllib.parse.quote(value, safe="")


def new_workspace():
    return tempfile.mkdtemp(prefix="axon-federation-")


def axon_and_synapse():
    """One Axon and one Synapse federating in a fresh workspace, for a module's fixture;
    both are stopped and the workspace removed afterwards."""
    workspace = new_workspace()
    certs = make_certificates(workspace)
    synapse = SynapsePeer(workspace, certs)
    axon = None
    try:
        axon = axon_federating(workspace, certs)
        yield axon, synapse
    finally:
        if axon:
            axon.stop()
        synapse.stop()
        shutil.rmtree(workspace, ignore_errors=True)
