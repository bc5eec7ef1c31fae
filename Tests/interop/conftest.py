"""Starts a real `axon serve` on a free loopback port with a fresh data directory.

The binary comes from $AXON_BIN, else the debug build in .build/. Each fixture owns its
server process and stops it with SIGTERM, checking that it shuts down cleanly.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_SECRET = "interop-shared-secret"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AxonProcess:
    def __init__(self, *extra_args, own_database=True):
        self.binary = os.environ.get("AXON_BIN") or os.path.join(ROOT, ".build", "debug", "axon")
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="axon-interop-")
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.data_dir, "axon.log")
        self.database = None
        if own_database and os.environ.get("AXON_TEST_STORAGE") == "postgres":
            self.database = create_postgres_database()
            extra_args = (*extra_args, "--database", self.database)
        self.args = [self.binary, "serve", "--port", str(self.port), "--data-dir", self.data_dir,
                     "--enable-registration", "--bcrypt-cost", "4",
                     "--registration-shared-secret", SHARED_SECRET, *extra_args]
        self.log = open(self.log_path, "w")
        self._start()

    # URL previews may reach loopback only: no name a test (or a page) supplies can send a
    # packet off this machine.
    FENCE = {"AXON_URL_PREVIEW_IP_RANGE_WHITELIST": "127.0.0.0/8", "AXON_URL_PREVIEW_IP_RANGE_WHITELIST_ONLY": "true"}

    def _start(self):
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.FENCE})
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"axon exited early: {open(self.log_path).read()}")
            try:
                if requests.get(self.base_url + "/_matrix/client/versions", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("axon did not start within 30 s")

    def stop(self):
        if self.process.poll() is not None:
            self.log.close()
            return
        self._terminate()
        self.log.close()
        if self.database:
            drop_postgres_database(self.database)

    def _terminate(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        assert code == 0, f"axon exited with {code}: {open(self.log_path).read()[-2000:]}"

    def restart(self, downtime=None):
        """Stops the server cleanly and starts it again on the same data, ports and database;
        `downtime` runs while it is down."""
        self._terminate()
        if downtime:
            downtime()
        self._start()


def create_postgres_database():
    """A fresh database on the test cluster (scripts/postgres-test-cluster)."""
    base = os.environ["AXON_TEST_POSTGRES_URL"]
    name = "axon_interop_" + uuid.uuid4().hex
    subprocess.run(["psql", base, "-qAtc", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url):
    base, name = url.rsplit("/", 1)
    subprocess.run(["psql", base + "/postgres", "-qAtc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


@pytest.fixture(scope="module")
def axon():
    server = AxonProcess("--no-rate-limits")
    yield server
    server.stop()


@pytest.fixture()
def rate_limited_axon():
    server = AxonProcess()
    yield server
    server.stop()


@pytest.fixture()
def username():
    return "user_" + uuid.uuid4().hex[:10]
