import Crypto
import Foundation
import MatrixModel
import Testing

@Suite struct RegistrationTests {
    @Test func dummyFlowRegistersAndLogsIn() async throws {
        try await TestServer.run { server in
            let challenge = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw"])
            #expect(challenge.status == 401)
            #expect(challenge.json["flows"] == [["stages": ["m.login.dummy"]]])
            #expect(challenge.json["session"]?.stringValue?.isEmpty == false)
            #expect(challenge.errcode == nil)
            let done = try await server.call(
                .post, "/_matrix/client/v3/register",
                json: [
                    "username": "alice", "password": "pw", "device_id": "MYDEVICE", "initial_device_display_name": "Phone",
                    "auth": ["type": "m.login.dummy", "session": challenge.json["session"]!],
                ])
            #expect(done.status == 200)
            #expect(done.json["user_id"] == "@alice:localhost")
            #expect(done.json["device_id"] == "MYDEVICE")
            let token = try #require(done.json["access_token"]?.stringValue)
            let device = try await server.call(.get, "/_matrix/client/v3/devices/MYDEVICE", token: token)
            #expect(device.json["display_name"] == "Phone")
            // A dummy stage without a session is accepted in one request, as matrix-nio sends it.
            let oneShot = try await server.call(
                .post, "/_matrix/client/v3/register", json: ["username": "bob", "password": "pw", "auth": ["type": "m.login.dummy"]])
            #expect(oneShot.status == 200)
        }
    }

    @Test func usernamesAreCheckedBeforeAuthentication() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            for (name, errcode) in [("alice", "M_USER_IN_USE"), ("ALICE", "M_USER_IN_USE"), ("al ice", "M_INVALID_USERNAME"), ("12345", "M_INVALID_USERNAME"), (String(repeating: "a", count: 250), "M_INVALID_USERNAME")] {
                let reply = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": .string(name), "password": "pw"])
                #expect(reply.status == 400, "\(name)")
                #expect(reply.errcode == errcode, "\(name)")
            }
        }
    }

    @Test func availability() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            #expect(try await server.call(.get, "/_matrix/client/v3/register/available?username=bob").json["available"] == true)
            #expect(try await server.call(.get, "/_matrix/client/v3/register/available?username=alice").errcode == "M_USER_IN_USE")
            #expect(try await server.call(.get, "/_matrix/client/v3/register/available?username=B%20b").errcode == "M_INVALID_USERNAME")
            #expect(try await server.call(.get, "/_matrix/client/v3/register/available").errcode == "M_MISSING_PARAM")
        }
    }

    @Test func omittedUsernameGetsAGeneratedOne() async throws {
        try await TestServer.run { server in
            let reply = try await server.call(.post, "/_matrix/client/v3/register", json: ["password": "pw", "auth": ["type": "m.login.dummy"]])
            #expect(reply.status == 200)
            let userID = try #require(reply.json["user_id"]?.stringValue)
            #expect(UserID(userID)?.localpart.allSatisfy(\.isNumber) == true)
        }
    }

    @Test func inhibitLoginReturnsNoToken() async throws {
        try await TestServer.run { server in
            let reply = try await server.call(
                .post, "/_matrix/client/v3/register",
                json: ["username": "alice", "password": "pw", "inhibit_login": true, "auth": ["type": "m.login.dummy"]])
            #expect(reply.status == 200)
            #expect(reply.json["user_id"] == "@alice:localhost")
            #expect(reply.json["access_token"] == nil)
            #expect(try await server.login("alice", password: "pw").status == 200)
        }
    }

    @Test func closedRegistration() async throws {
        try await TestServer.run(configure: { $0.enableRegistration = false }) { server in
            let reply = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw"])
            #expect(reply.status == 403)
            #expect(reply.errcode == "M_FORBIDDEN")
        }
    }

    @Test func registrationTokens() async throws {
        try await TestServer.run(configure: { $0.registrationTokens = ["letmein"] }) { server in
            let challenge = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw"])
            #expect(challenge.json["flows"] == [["stages": ["m.login.registration_token"]]])
            let session = challenge.json["session"]!
            #expect(try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw", "auth": ["type": "m.login.dummy", "session": session]]).status == 401)
            let wrong = try await server.call(
                .post, "/_matrix/client/v3/register",
                json: ["username": "alice", "password": "pw", "auth": ["type": "m.login.registration_token", "token": "nope", "session": session]])
            #expect(wrong.status == 401)
            #expect(wrong.errcode == "M_FORBIDDEN")
            let right = try await server.call(
                .post, "/_matrix/client/v3/register",
                json: ["username": "alice", "password": "pw", "auth": ["type": "m.login.registration_token", "token": "letmein", "session": session]])
            #expect(right.status == 200)
            let validity = "/_matrix/client/v1/register/m.login.registration_token/validity"
            #expect(try await server.call(.get, validity + "?token=letmein").json["valid"] == true)
            #expect(try await server.call(.get, validity + "?token=other").json["valid"] == false)
        }
    }

    @Test func guests() async throws {
        try await TestServer.run { server in
            let refused = try await server.call(.post, "/_matrix/client/v3/register?kind=guest", json: [:])
            #expect(refused.status == 403)
            #expect(refused.errcode == "M_GUEST_ACCESS_FORBIDDEN")
            #expect(try await server.call(.post, "/_matrix/client/v3/register?kind=robot", json: [:]).errcode == "M_INVALID_PARAM")
        }
        try await TestServer.run(configure: { $0.allowGuestAccess = true }) { server in
            let guest = try await server.call(.post, "/_matrix/client/v3/register?kind=guest", json: [:])
            #expect(guest.status == 200)
            let token = try #require(guest.json["access_token"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: token).json["is_guest"] == true)
            #expect(try await server.call(.get, "/_matrix/client/v3/devices", token: token).errcode == "M_GUEST_ACCESS_FORBIDDEN")
        }
    }

    @Test func sharedSecretRegistration() async throws {
        try await TestServer.run { server in
            func mac(_ nonce: String, _ user: String, _ password: String, admin: Bool) -> String {
                let message = "\(nonce)\u{0}\(user)\u{0}\(password)\u{0}\(admin ? "admin" : "notadmin")"
                return HMAC<Insecure.SHA1>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array("s3cret".utf8)))
                    .map { String(format: "%02x", $0) }.joined()
            }
            let path = "/_synapse/admin/v1/register"
            let nonce = try #require(try await server.call(.get, path).json["nonce"]?.stringValue)
            let bad = try await server.call(
                .post, path, json: ["nonce": .string(nonce), "username": "root", "password": "pw", "admin": true, "mac": "00"])
            #expect(bad.status == 403)
            // A nonce is single-use, even after a failed attempt.
            let reused = try await server.call(
                .post, path, json: ["nonce": .string(nonce), "username": "root", "password": "pw", "admin": true, "mac": .string(mac(nonce, "root", "pw", admin: true))])
            #expect(reused.status == 400)
            let fresh = try #require(try await server.call(.get, path).json["nonce"]?.stringValue)
            let good = try await server.call(
                .post, path, json: ["nonce": .string(fresh), "username": "root", "password": "pw", "admin": true, "mac": .string(mac(fresh, "root", "pw", admin: true))])
            #expect(good.status == 200)
            #expect(good.json["user_id"] == "@root:localhost")
            #expect(try await server.server.storage.account(userID: "@root:localhost")?.isAdmin == true)
        }
    }

    @Test func sharedSecretRegistrationIsOffWithoutASecret() async throws {
        try await TestServer.run(configure: { $0.registrationSharedSecret = nil }) { server in
            let reply = try await server.call(.get, "/_synapse/admin/v1/register")
            #expect(reply.status == 400)
        }
    }
}
