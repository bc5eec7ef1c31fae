import MatrixModel
import Testing

@Suite struct SessionTests {
    @Test func loginFlowsAndIdentifiers() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            #expect(
                try await server.call(.get, "/_matrix/client/v3/login").json["flows"] == [
                    ["type": "m.login.password"], ["type": "m.login.application_service"], ["type": "m.login.token", "get_login_token": true],
                ])
            #expect(try await server.login("alice").status == 200)
            #expect(try await server.login("@alice:localhost").json["user_id"] == "@alice:localhost")
            #expect(try await server.login("ALICE").status == 200)
            let legacy = try await server.call(
                .post, "/_matrix/client/v3/login", json: ["type": "m.login.password", "user": "alice", "password": "correct horse"])
            #expect(legacy.status == 200)
        }
    }

    @Test func loginFailures() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let wrong = try await server.login("alice", password: "wrong")
            #expect(wrong.status == 403)
            #expect(wrong.errcode == "M_FORBIDDEN")
            #expect(try await server.login("nobody").errcode == "M_FORBIDDEN")
            #expect(try await server.login("@alice:elsewhere.org").errcode == "M_FORBIDDEN")
            let badType = try await server.call(.post, "/_matrix/client/v3/login", json: ["type": "m.login.sso"])
            #expect(badType.status == 400)
            #expect(badType.errcode == "M_UNKNOWN")
            let thirdParty = try await server.call(
                .post, "/_matrix/client/v3/login",
                json: ["type": "m.login.password", "identifier": ["type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"], "password": "x"])
            #expect(thirdParty.status == 403)
        }
    }

    @Test func reusingADeviceIDRevokesItsOldToken() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice", device: "DEV")
            let again = try await server.login("alice", device: "DEV")
            #expect(again.json["device_id"] == "DEV")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).errcode == "M_UNKNOWN_TOKEN")
            let devices = try await server.call(.get, "/_matrix/client/v3/devices", token: again.json["access_token"]!.stringValue!)
            #expect(devices.json["devices"]?.arrayValue?.count == 1)
        }
    }

    @Test func logoutAndLogoutAll() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let second = try #require(try await server.login("alice").json["access_token"]?.stringValue)
            let third = try #require(try await server.login("alice").json["access_token"]?.stringValue)
            #expect(try await server.call(.post, "/_matrix/client/v3/logout", token: second).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: second).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: third).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/devices", token: alice.token).json["devices"]?.arrayValue?.count == 2)
            #expect(try await server.call(.post, "/_matrix/client/v3/logout/all", token: third).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: third).errcode == "M_UNKNOWN_TOKEN")
        }
    }

    @Test func changingThePassword() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let other = try #require(try await server.login("alice").json["access_token"]?.stringValue)
            let path = "/_matrix/client/v3/account/password"
            let challenge = try await server.call(.post, path, token: alice.token, json: ["new_password": "new pw"])
            #expect(challenge.status == 401)
            #expect(challenge.json["flows"] == [["stages": ["m.login.password"]]])
            let session = challenge.json["session"]!
            let wrong = try await server.call(
                .post, path, token: alice.token,
                json: ["new_password": "new pw", "auth": server.passwordAuth("alice", "wrong", session: session)])
            #expect(wrong.status == 401)
            #expect(wrong.errcode == "M_FORBIDDEN")
            let right = try await server.call(
                .post, path, token: alice.token, json: ["new_password": "new pw", "auth": server.passwordAuth("alice", session: session)])
            #expect(right.status == 200)
            #expect(try await server.login("alice").status == 403)
            #expect(try await server.login("alice", password: "new pw").status == 200)
            // Other sessions are logged out by default; the one that changed the password is kept.
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: other).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).status == 200)
        }
    }

    @Test func passwordChangeCanKeepOtherDevices() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let other = try #require(try await server.login("alice").json["access_token"]?.stringValue)
            let reply = try await server.call(
                .post, "/_matrix/client/v3/account/password", token: alice.token,
                json: ["new_password": "new pw", "logout_devices": false, "auth": server.passwordAuth("alice")])
            #expect(reply.status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: other).status == 200)
        }
    }

    @Test func uiaSessionsCannotBeSwappedBetweenUsersOrOperations() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let challenge = try await server.call(.post, "/_matrix/client/v3/account/deactivate", token: alice.token, json: [:])
            let session = challenge.json["session"]!
            // Bob cannot complete Alice's session, nor prove presence with his own password for her.
            let hijack = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: bob.token, json: ["auth": server.passwordAuth("bob", session: session)])
            #expect(hijack.status == 403)
            let otherOperation = try await server.call(
                .post, "/_matrix/client/v3/account/password", token: alice.token,
                json: ["new_password": "x", "auth": server.passwordAuth("alice", session: session)])
            #expect(otherOperation.status == 403)
            let wrongUser = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: alice.token, json: ["auth": server.passwordAuth("bob")])
            // Another account's credentials are a refusal, not a retryable stage (Synapse: 403).
            #expect(wrongUser.status == 403)
            #expect(wrongUser.errcode == "M_FORBIDDEN")
            let unknown = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: alice.token,
                json: ["auth": ["type": "m.login.password", "session": "nope"]])
            #expect(unknown.status == 400)
        }
    }

    @Test func deactivation() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let reply = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: alice.token, json: ["auth": server.passwordAuth("alice")])
            #expect(reply.status == 200)
            #expect(reply.json["id_server_unbind_result"] == "no-support")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.login("alice").status == 403)
            // The user ID is never handed out again.
            let again = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw"])
            #expect(again.errcode == "M_USER_IN_USE")
            #expect(try await server.call(.get, "/_matrix/client/v3/profile/@alice:localhost").status == 404)
        }
    }
}
