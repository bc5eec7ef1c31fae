import AxonServer
import Foundation
import MatrixModel
import Testing

/// Refresh tokens (spec v1.3 "Refreshing access tokens") and login tokens (v1.7 `get_token`).
@Suite struct RefreshTokenTests {
    static let whoami = "/_matrix/client/v3/account/whoami"

    func refreshableLogin(_ server: TestServer, device: String? = nil) async throws -> (access: String, refresh: String, device: String) {
        var body: JSON = [
            "type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "correct horse",
            "refresh_token": true,
        ]
        if let device { body["device_id"] = .string(device) }
        let login = try await server.call(.post, "/_matrix/client/v3/login", json: body)
        return (
            try #require(login.json["access_token"]?.stringValue, "\(login.raw)"), try #require(login.json["refresh_token"]?.stringValue),
            try #require(login.json["device_id"]?.stringValue)
        )
    }

    func refresh(_ server: TestServer, _ token: String) async throws -> TestServer.Reply {
        try await server.call(.post, "/_matrix/client/v3/refresh", json: ["refresh_token": .string(token)])
    }

    @Test func loginAndRegistrationHandOutRefreshTokensOnlyWhenAsked() async throws {
        try await TestServer.run(configure: { $0.tokenLifetimes.refreshableAccessMs = 60_000 }) { server in
            var body: JSON = ["username": "alice", "password": "correct horse", "refresh_token": true]
            let challenge = try await server.call(.post, "/_matrix/client/v3/register", json: body)
            body["auth"] = ["type": "m.login.dummy", "session": challenge.json["session"] ?? .null]
            let registered = try await server.call(.post, "/_matrix/client/v3/register", json: body)
            #expect(registered.json["refresh_token"]?.stringValue?.isEmpty == false)
            #expect(registered.json["expires_in_ms"] == 60_000)
            let plain = try await server.login("alice")
            #expect(plain.json["refresh_token"] == nil)
            #expect(plain.json["expires_in_ms"] == nil)
            let refreshable = try await refreshableLogin(server)
            #expect(try await server.call(.get, Self.whoami, token: refreshable.access).json["device_id"] == .string(refreshable.device))
        }
    }

    @Test func refreshRotatesThePairAndTheOldOneEndsWhenTheNewIsUsed() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let first = try await refreshableLogin(server)
            let refreshed = try await refresh(server, first.refresh)
            #expect(refreshed.status == 200, "\(refreshed.raw)")
            let access = try #require(refreshed.json["access_token"]?.stringValue)
            let refreshToken = try #require(refreshed.json["refresh_token"]?.stringValue)
            #expect(refreshed.json["expires_in_ms"] == .int(TokenLifetimes().refreshableAccessMs))
            #expect(access != first.access && refreshToken != first.refresh)
            // Until the new pair is used, the old access token still works.
            #expect(try await server.call(.get, Self.whoami, token: first.access).status == 200)
            let me = try await server.call(.get, Self.whoami, token: access)
            #expect(me.json["device_id"] == .string(first.device))
            let old = try await server.call(.get, Self.whoami, token: first.access)
            #expect(old.status == 401)
            #expect(old.errcode == "M_UNKNOWN_TOKEN")
            // The new refresh token goes on working.
            #expect(try await refresh(server, refreshToken).status == 200)
        }
    }

    @Test func aLostAnswerCanBeRetriedWithTheSameRefreshToken() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let first = try await refreshableLogin(server)
            let lost = try await refresh(server, first.refresh)
            let retried = try await refresh(server, first.refresh)
            #expect(retried.status == 200)
            // The pair nobody received is dropped; the retried one works.
            #expect(try await server.call(.get, Self.whoami, token: lost.json["access_token"]!.stringValue!).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await refresh(server, lost.json["refresh_token"]!.stringValue!).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.call(.get, Self.whoami, token: retried.json["access_token"]!.stringValue!).status == 200)
        }
    }

    @Test func reusingAReplacedRefreshTokenEndsTheSession() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let first = try await refreshableLogin(server, device: "PHONE")
            let second = try await refresh(server, first.refresh)
            // Using the new refresh token revokes the old one, as using the new access token would.
            let third = try await refresh(server, second.json["refresh_token"]!.stringValue!)
            #expect(third.status == 200)
            let reused = try await refresh(server, first.refresh)
            #expect(reused.status == 401)
            #expect(reused.errcode == "M_UNKNOWN_TOKEN")
            #expect(reused.json["soft_logout"] == false)
            // Everything of that device is gone: its tokens and the device itself.
            let latest = try await server.call(.get, Self.whoami, token: third.json["access_token"]!.stringValue!)
            #expect(latest.errcode == "M_UNKNOWN_TOKEN")
            #expect(latest.json["soft_logout"] == false)
            #expect(try await refresh(server, third.json["refresh_token"]!.stringValue!).errcode == "M_UNKNOWN_TOKEN")
            let devices = try await server.call(.get, "/_matrix/client/v3/devices", token: alice.token)
            #expect(devices.json["devices"]?.arrayValue?.contains { $0["device_id"] == "PHONE" } == false)
        }
    }

    /// Lifetimes are a millisecond here, so nothing depends on how fast the test runs: the
    /// tokens are always expired when used.
    @Test func expiredAccessTokensAreASoftLogoutAndRefreshBringsThemBack() async throws {
        try await TestServer.run(configure: { $0.tokenLifetimes.refreshableAccessMs = 1 }) { server in
            _ = try await server.register("alice")
            let first = try await refreshableLogin(server)
            try await Task.sleep(for: .milliseconds(20))
            let expired = try await server.call(.get, Self.whoami, token: first.access)
            #expect(expired.status == 401)
            #expect(expired.errcode == "M_UNKNOWN_TOKEN")
            #expect(expired.json["soft_logout"] == true)
            let refreshed = try await refresh(server, first.refresh)
            #expect(refreshed.status == 200)
            #expect(refreshed.json["expires_in_ms"] == 1)
            // Logging in again on the same device ends the soft logout too, and its old refresh token.
            let again = try await server.call(
                .post, "/_matrix/client/v3/login",
                json: ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "correct horse",
                    "device_id": .string(first.device)])
            #expect(again.json["device_id"] == .string(first.device))
            #expect(try await server.call(.get, Self.whoami, token: again.json["access_token"]!.stringValue!).status == 200)
            #expect(try await refresh(server, refreshed.json["refresh_token"]!.stringValue!).errcode == "M_UNKNOWN_TOKEN")
        }
    }

    @Test func expiredRefreshTokensAndUnknownOnes() async throws {
        try await TestServer.run(configure: { $0.tokenLifetimes.refreshMs = 1 }) { server in
            _ = try await server.register("alice")
            let first = try await refreshableLogin(server)
            try await Task.sleep(for: .milliseconds(20))
            let expired = try await refresh(server, first.refresh)
            #expect(expired.status == 401)
            #expect(expired.json["soft_logout"] == true)
            let unknown = try await refresh(server, "axon_nonsense")
            #expect(unknown.status == 401)
            #expect(unknown.errcode == "M_UNKNOWN_TOKEN")
            #expect(unknown.json["soft_logout"] == false)
            #expect(try await server.call(.post, "/_matrix/client/v3/refresh", json: [:]).errcode == "M_MISSING_PARAM")
            // An access token is not a refresh token.
            #expect(try await refresh(server, first.access).errcode == "M_UNKNOWN_TOKEN")
        }
    }

    @Test func nonRefreshableTokensExpireOnlyWhenConfigured() async throws {
        try await TestServer.run(configure: { $0.tokenLifetimes.nonRefreshableAccessMs = 1 }) { server in
            let alice = try await server.register("alice")
            #expect(try await server.login("alice").json["expires_in_ms"] == 1)
            try await Task.sleep(for: .milliseconds(20))
            let expired = try await server.call(.get, Self.whoami, token: alice.token)
            #expect(expired.errcode == "M_UNKNOWN_TOKEN")
            #expect(expired.json["soft_logout"] == true)
        }
    }

    @Test func anAdminLoginTokenEndsAtValidUntil() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            _ = try await server.register("alice")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let path = "/_synapse/admin/v1/users/@alice:localhost/login"
            let lasting = try await server.call(.post, path, token: root, json: ["valid_until_ms": .int(now + 3_600_000)])
            #expect(try await server.call(.get, Self.whoami, token: lasting.json["access_token"]!.stringValue!).status == 200)
            let until = Int64(Date().timeIntervalSince1970 * 1000) + 3_000
            let brief = try await server.call(.post, path, token: root, json: ["valid_until_ms": .int(until)])
            let token = try #require(brief.json["access_token"]?.stringValue, "\(brief.raw)")
            let left = until + 100 - Int64(Date().timeIntervalSince1970 * 1000)
            try await Task.sleep(for: .milliseconds(max(0, left)))
            #expect(try await server.call(.get, Self.whoami, token: token).json["soft_logout"] == true)
        }
    }
}

@Suite struct LoginTokenTests {
    static let getToken = "/_matrix/client/v1/login/get_token"

    func getToken(_ server: TestServer, _ alice: TestServer.Session) async throws -> TestServer.Reply {
        let challenge = try await server.call(.post, Self.getToken, token: alice.token, json: [:])
        #expect(challenge.status == 401)
        #expect(challenge.json["flows"] == [["stages": ["m.login.password"]]])
        return try await server.call(
            .post, Self.getToken, token: alice.token, json: ["auth": server.passwordAuth("alice", session: challenge.json["session"])])
    }

    func tokenLogin(_ server: TestServer, _ token: String) async throws -> TestServer.Reply {
        try await server.call(.post, "/_matrix/client/v3/login", json: ["type": "m.login.token", "token": .string(token)])
    }

    @Test func aLoginTokenSignsInOneOtherDeviceOnce() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let flows = try await server.call(.get, "/_matrix/client/v3/login").json["flows"]?.arrayValue ?? []
            #expect(flows.contains(["type": "m.login.token", "get_login_token": true]))
            let capabilities = try await server.call(.get, "/_matrix/client/v3/capabilities", token: alice.token)
            #expect(capabilities.json["capabilities"]?["m.get_login_token"] == ["enabled": true])
            let issued = try await getToken(server, alice)
            #expect(issued.status == 200, "\(issued.raw)")
            #expect(issued.json["expires_in_ms"] == 120_000)
            let token = try #require(issued.json["login_token"]?.stringValue)
            let login = try await tokenLogin(server, token)
            #expect(login.json["user_id"] == "@alice:localhost")
            #expect(login.json["device_id"] != .string(alice.deviceID))
            let second = try await tokenLogin(server, token)
            #expect(second.status == 403)
            #expect(second.errcode == "M_FORBIDDEN")
        }
    }

    @Test func theUserConfirmsEveryTokenWithTheirPassword() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let challenge = try await server.call(.post, Self.getToken, token: alice.token, json: [:])
            let wrong = try await server.call(
                .post, Self.getToken, token: alice.token,
                json: ["auth": server.passwordAuth("alice", "wrong", session: challenge.json["session"])])
            #expect(wrong.status == 401)
            #expect(wrong.errcode == "M_FORBIDDEN")
            #expect(try await getToken(server, alice).status == 200)
            // A completed confirmation is not kept for the next token.
            let replay = try await server.call(.post, Self.getToken, token: alice.token, json: ["auth": ["session": challenge.json["session"]!]])
            #expect(replay.status == 400 || replay.status == 401)
            #expect(replay.json["login_token"] == nil)
            #expect(try await tokenLogin(server, "axon_madeup").status == 403)
        }
    }

    @Test func loginTokensExpire() async throws {
        try await TestServer.run(configure: { $0.tokenLifetimes.loginTokenMs = 1 }) { server in
            let alice = try await server.register("alice")
            let token = try #require(try await getToken(server, alice).json["login_token"]?.stringValue)
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await tokenLogin(server, token).errcode == "M_FORBIDDEN")
        }
    }

    @Test func switchedOffTheEndpointIsUnrecognised() async throws {
        try await TestServer.run(configure: { $0.loginViaExistingSession = false }) { server in
            let alice = try await server.register("alice")
            #expect(try await server.call(.post, Self.getToken, token: alice.token, json: [:]).errcode == "M_UNRECOGNIZED")
            let capabilities = try await server.call(.get, "/_matrix/client/v3/capabilities", token: alice.token)
            #expect(capabilities.json["capabilities"]?["m.get_login_token"] == ["enabled": false])
            let flows = try await server.call(.get, "/_matrix/client/v3/login").json["flows"]?.arrayValue ?? []
            #expect(flows.contains(["type": "m.login.token"]))
        }
    }
}
