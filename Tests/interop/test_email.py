"""Email and third-party identifiers against a real SMTP server: aiosmtpd (PyPI), started
here on loopback with STARTTLS (a certificate made for the test) and AUTH PLAIN, receives
Axon's mails; their links complete registration with an email address, a password reset
and adding an address.
"""
import datetime
import os
import re
import ssl
import tempfile
import time
import uuid
from email import message_from_bytes, policy

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import AxonProcess, free_port

PASSWORD = "correct horse battery"


def make_certificate(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "smtp.crt"), os.path.join(directory, "smtp.key")
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


class Inbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == b"axon" and auth_data.password == b"smtp-secret")

    def wait_for(self, address, count=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            mine = [m for to, m in self.messages if address in to]
            if len(mine) >= count:
                return mine[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no mail for {address}")


@pytest.fixture(scope="module")
def mail():
    directory = tempfile.mkdtemp(prefix="axon-smtp-")
    cert, key = make_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=inbox.authenticate, auth_required=True)
    controller.start()
    yield inbox, port, cert
    controller.stop()


@pytest.fixture(scope="module")
def axon(mail):
    _, port, cert = mail
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"""
email:
  smtp_host: localhost
  smtp_port: {port}
  smtp_security: starttls
  smtp_user: axon
  smtp_pass: smtp-secret
  notif_from: "Axon Test <noreply@localhost>"
  ca_file: "{cert}"
""")
    config.close()
    server = AxonProcess("--no-rate-limits", "--config", config.name)
    yield server
    server.stop()


def link_in(message):
    text = message.get_body(("plain",)).get_content()
    return re.search(r"(http://\S+/_axon/3pid/email/submit_token\S+)", text).group(1)


def request_token(axon, path, address, secret, attempt=1):
    return requests.post(axon.base_url + path, json={"client_secret": secret, "email": address, "send_attempt": attempt})


def register_with_email(axon, inbox, name, address):
    secret = "secret" + uuid.uuid4().hex
    asked = request_token(axon, "/_matrix/client/v3/register/email/requestToken", address, secret)
    assert asked.status_code == 200, asked.text
    sid = asked.json()["sid"]
    message = inbox.wait_for(address.lower())
    assert requests.get(link_in(message)).status_code == 200
    challenge = requests.post(axon.base_url + "/_matrix/client/v3/register", json={"username": name, "password": PASSWORD})
    assert ["m.login.email.identity"] in [flow["stages"] for flow in challenge.json()["flows"]]
    done = requests.post(axon.base_url + "/_matrix/client/v3/register", json={
        "username": name, "password": PASSWORD,
        "auth": {"type": "m.login.email.identity", "session": challenge.json()["session"],
                 "threepid_creds": {"sid": sid, "client_secret": secret}}})
    assert done.status_code == 200, done.text
    return done.json()["access_token"]


def test_registration_confirms_an_address_by_mail(axon, mail):
    inbox, _, _ = mail
    name, address = "mail" + uuid.uuid4().hex[:8], f"Reg.{uuid.uuid4().hex[:6]}@Example.org"
    token = register_with_email(axon, inbox, name, address)
    message = inbox.wait_for(address.lower())
    assert message["From"] == "Axon Test <noreply@localhost>"
    assert "new localhost account" in message["Subject"]
    # The mail went over STARTTLS with the configured credentials.
    assert (b"axon", b"smtp-secret") in [(login, password) for _, login, password in inbox.logins]
    listed = requests.get(axon.base_url + "/_matrix/client/v3/account/3pid", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(t["medium"], t["address"]) for t in listed["threepids"]] == [("email", address.lower())]
    # The address signs in, and is taken for anyone else.
    login = requests.post(axon.base_url + "/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address.upper()},
        "password": PASSWORD})
    assert login.status_code == 200 and login.json()["user_id"] == f"@{name}:localhost"
    taken = request_token(axon, "/_matrix/client/v3/register/email/requestToken", address, "other-secret")
    assert taken.status_code == 400 and taken.json()["errcode"] == "M_THREEPID_IN_USE"


def test_a_repeated_send_attempt_sends_nothing_and_unconfirmed_addresses_do_not_count(axon, mail):
    inbox, _, _ = mail
    address, secret = f"once.{uuid.uuid4().hex[:6]}@example.org", "s" + uuid.uuid4().hex
    first = request_token(axon, "/_matrix/client/v3/register/email/requestToken", address, secret)
    again = request_token(axon, "/_matrix/client/v3/register/email/requestToken", address, secret)
    assert first.json()["sid"] == again.json()["sid"]
    inbox.wait_for(address)
    time.sleep(0.5)
    assert len([m for to, m in inbox.messages if address in to]) == 1
    challenge = requests.post(axon.base_url + "/_matrix/client/v3/register", json={"username": "u" + uuid.uuid4().hex[:8], "password": PASSWORD})
    unconfirmed = requests.post(axon.base_url + "/_matrix/client/v3/register", json={
        "username": "u" + uuid.uuid4().hex[:8], "password": PASSWORD,
        "auth": {"type": "m.login.email.identity", "session": challenge.json()["session"],
                 "threepid_creds": {"sid": first.json()["sid"], "client_secret": secret}}})
    assert unconfirmed.status_code == 401 and unconfirmed.json()["errcode"] == "M_THREEPID_AUTH_FAILED"
    wrong_link = link_in(inbox.wait_for(address)).replace("token=", "token=x")
    assert requests.get(wrong_link).status_code == 400
    bad = request_token(axon, "/_matrix/client/v3/register/email/requestToken", "not-an-address", secret)
    assert bad.status_code == 400 and bad.json()["errcode"] == "M_INVALID_PARAM"
    # An address the mail server refuses is the client's problem, told as such.
    refused = request_token(axon, "/_matrix/client/v3/register/email/requestToken", "refused@example.org", secret)
    assert refused.status_code == 400 and refused.json()["errcode"] == "M_THREEPID_DENIED"


def test_a_forgotten_password_is_reset_by_mail(axon, mail):
    inbox, _, _ = mail
    name, address = "reset" + uuid.uuid4().hex[:8], f"reset.{uuid.uuid4().hex[:6]}@example.org"
    old_token = register_with_email(axon, inbox, name, address)
    unknown = request_token(axon, "/_matrix/client/v3/account/password/email/requestToken", "nobody@example.org", "s1")
    assert unknown.status_code == 400 and unknown.json()["errcode"] == "M_THREEPID_NOT_FOUND"
    secret = "reset" + uuid.uuid4().hex
    asked = request_token(axon, "/_matrix/client/v3/account/password/email/requestToken", address, secret)
    message = inbox.wait_for(address, count=2)
    assert "Reset your localhost password" in message["Subject"]
    creds = {"sid": asked.json()["sid"], "client_secret": secret}
    early = requests.post(axon.base_url + "/_matrix/client/v3/account/password", json={
        "new_password": "brand new", "auth": {"type": "m.login.email.identity", "threepid_creds": creds}})
    assert early.status_code == 401
    assert requests.get(link_in(message)).status_code == 200
    reset = requests.post(axon.base_url + "/_matrix/client/v3/account/password", json={
        "new_password": "brand new", "auth": {"type": "m.login.email.identity", "threepid_creds": creds, "session": early.json()["session"]}})
    assert reset.status_code == 200, reset.text
    assert requests.get(axon.base_url + "/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    login = requests.post(axon.base_url + "/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": name}, "password": "brand new"})
    assert login.status_code == 200


def test_adding_and_removing_an_address(axon, mail):
    inbox, _, _ = mail
    name = "add" + uuid.uuid4().hex[:8]
    first = register_with_email(axon, inbox, name, f"first.{uuid.uuid4().hex[:6]}@example.org")
    auth = {"Authorization": f"Bearer {first}"}
    address, secret = f"second.{uuid.uuid4().hex[:6]}@example.org", "add" + uuid.uuid4().hex
    asked = request_token(axon, "/_matrix/client/v3/account/3pid/email/requestToken", address, secret)
    requests.get(link_in(inbox.wait_for(address)))
    body = {"sid": asked.json()["sid"], "client_secret": secret}
    challenge = requests.post(axon.base_url + "/_matrix/client/v3/account/3pid/add", headers=auth, json=body)
    assert challenge.status_code == 401
    added = requests.post(axon.base_url + "/_matrix/client/v3/account/3pid/add", headers=auth, json={**body, "auth": {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": name}, "password": PASSWORD,
        "session": challenge.json()["session"]}})
    assert added.status_code == 200, added.text
    listed = requests.get(axon.base_url + "/_matrix/client/v3/account/3pid", headers=auth).json()["threepids"]
    assert address in [t["address"] for t in listed] and len(listed) == 2
    deleted = requests.post(axon.base_url + "/_matrix/client/v3/account/3pid/delete", headers=auth, json={"medium": "email", "address": address})
    assert deleted.json() == {"id_server_unbind_result": "no-support"}
    assert len(requests.get(axon.base_url + "/_matrix/client/v3/account/3pid", headers=auth).json()["threepids"]) == 1
    capabilities = requests.get(axon.base_url + "/_matrix/client/v3/capabilities", headers=auth).json()["capabilities"]
    assert capabilities["m.3pid_changes"] == {"enabled": True}
    # No identity server and no SMS here: the spec's answers.
    bind = requests.post(axon.base_url + "/_matrix/client/v3/account/3pid/bind", headers=auth, json={
        "client_secret": "x", "id_server": "id.example.org", "id_access_token": "t", "sid": "s"})
    assert bind.status_code == 400 and bind.json()["errcode"] == "M_SERVER_NOT_TRUSTED"
    unbind = requests.post(axon.base_url + "/_matrix/client/v3/account/3pid/unbind", headers=auth, json={"medium": "email", "address": address})
    assert unbind.json() == {"id_server_unbind_result": "no-support"}
    sms = requests.post(axon.base_url + "/_matrix/client/v3/register/msisdn/requestToken", json={
        "client_secret": "x", "country": "GB", "phone_number": "07700900001", "send_attempt": 1})
    assert sms.status_code == 400 and sms.json()["errcode"] == "M_THREEPID_MEDIUM_NOT_SUPPORTED"
