import AxonServer
import AxonTestSupport
import Crypto
import Hummingbird
import MatrixModel
import Testing

/// The behaviour every endpoint shares: routing, errors, CORS, authentication, limits.
@Suite struct ProtocolTests {
    @Test func versionsAndDiscovery() async throws {
        try await TestServer.run { server in
            let versions = try await server.call(.get, "/_matrix/client/versions")
            #expect(versions.status == 200)
            #expect(versions.json["versions"]?.arrayValue?.contains("v1.1") == true)
            #expect(versions.json["versions"]?.arrayValue?.contains("v1.19") == true)
            let wellKnown = try await server.call(.get, "/.well-known/matrix/client")
            #expect(wellKnown.json["m.homeserver"]?["base_url"] == "http://localhost:8008/")
            // JSON out is not escaped the way Foundation's encoder would: no "\/".
            #expect(wellKnown.raw.contains("http://localhost"))
        }
    }

    @Test func capabilitiesNeedATokenAndListRoomVersions() async throws {
        try await TestServer.run { server in
            #expect(try await server.call(.get, "/_matrix/client/v3/capabilities").errcode == "M_MISSING_TOKEN")
            let alice = try await server.register("alice")
            let reply = try await server.call(.get, "/_matrix/client/v3/capabilities", token: alice.token)
            let capabilities = try #require(reply.json["capabilities"])
            #expect(capabilities["m.change_password"]?["enabled"] == true)
            #expect(capabilities["m.room_versions"]?["default"] == "12")
            #expect(capabilities["m.room_versions"]?["available"]?["10"] == "stable")
            #expect(capabilities["m.3pid_changes"]?["enabled"] == false)
            #expect(capabilities["m.forget_forced_upon_leave"]?["enabled"] == false)
            #expect(capabilities["m.set_displayname"]?["enabled"] == true)
            #expect(capabilities["m.set_avatar_url"]?["enabled"] == true)
        }
    }

    @Test func unknownPathsAndWrongMethods() async throws {
        try await TestServer.run { server in
            let unknown = try await server.call(.get, "/_matrix/client/v3/no/such/thing")
            #expect(unknown.status == 404)
            #expect(unknown.errcode == "M_UNRECOGNIZED")
            let wrongMethod = try await server.call(.put, "/_matrix/client/v3/login")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.errcode == "M_UNRECOGNIZED")
            #expect(try await server.call(.get, "/").status == 404)
        }
    }

    @Test func corsOnPreflightAndOnEveryResponse() async throws {
        try await TestServer.run { server in
            let preflight = try await server.call(.options, "/_matrix/client/v3/account/whoami")
            #expect(preflight.status == 200)
            #expect(preflight.headers[.accessControlAllowOrigin] == "*")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("PUT") == true)
            let error = try await server.call(.get, "/_matrix/client/v3/account/whoami")
            #expect(error.headers[.accessControlAllowOrigin] == "*")
            #expect(error.headers[.contentType] == "application/json")
        }
    }

    @Test func malformedBodies() async throws {
        try await TestServer.run { server in
            let notJSON = try await server.call(.post, "/_matrix/client/v3/login", body: "{nope")
            #expect(notJSON.status == 400)
            #expect(notJSON.errcode == "M_NOT_JSON")
            let notObject = try await server.call(.post, "/_matrix/client/v3/login", body: "[1,2]")
            #expect(notObject.status == 400)
            #expect(notObject.errcode == "M_BAD_JSON")
            let wrongType = try await server.call(.post, "/_matrix/client/v3/login", json: ["type": 5])
            #expect(wrongType.errcode == "M_BAD_JSON")
            let missing = try await server.call(.post, "/_matrix/client/v3/login", json: [:])
            #expect(missing.errcode == "M_MISSING_PARAM")
        }
    }

    @Test func bodiesOverTheLimitAre413() async throws {
        try await TestServer.run(configure: { $0.maxRequestBytes = 1024 }) { server in
            let big = JSON.object(["username": .string(String(repeating: "a", count: 4096))])
            let reply = try await server.call(.post, "/_matrix/client/v3/register", json: big)
            #expect(reply.status == 413)
            #expect(reply.errcode == "M_TOO_LARGE")
        }
    }

    @Test func tokensFromHeaderOrQueryAndTheirErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let viaHeader = try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token)
            #expect(viaHeader.json["user_id"] == .string(alice.userID))
            let viaQuery = try await server.call(.get, "/_matrix/client/v3/account/whoami?access_token=\(alice.token)")
            #expect(viaQuery.json["device_id"] == .string(alice.deviceID))
            let missing = try await server.call(.get, "/_matrix/client/v3/account/whoami")
            #expect(missing.status == 401)
            #expect(missing.errcode == "M_MISSING_TOKEN")
            let bad = try await server.call(.get, "/_matrix/client/v3/account/whoami", token: "axon_nonsense")
            #expect(bad.status == 401)
            #expect(bad.errcode == "M_UNKNOWN_TOKEN")
            #expect(bad.json["soft_logout"] == false)
        }
    }

    @Test func tokensAreLongAndStoredOnlyAsHashes() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            #expect(alice.token.utf8.count >= 43 + 5)
            #expect(try await server.server.storage.tokenOwner(tokenHash: alice.token) == nil)
            let database: String
            if case .postgres(let url) = server.server.config.databaseLocation {
                database = try PostgresTestDatabase.dump(url)
            } else {
                database = try String(contentsOfFile: server.server.config.dataDirectory + "/axon.db-wal", encoding: .isoLatin1)
                    + (try String(contentsOfFile: server.server.config.dataDirectory + "/axon.db", encoding: .isoLatin1))
            }
            #expect(database.contains(Self.sha256Hex(alice.token)))
            #expect(!database.contains(alice.token))
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        try await TestServer.run(configure: {
            $0.rateLimitsEnabled = true
            $0.rateLimits[.login] = RateLimitSettings(perSecond: 0.01, burst: 2)
        }) { server in
            for _ in 0..<2 { #expect(try await server.login("nobody", password: "x").status == 403) }
            let limited = try await server.login("nobody", password: "x")
            #expect(limited.status == 429)
            #expect(limited.errcode == "M_LIMIT_EXCEEDED")
            #expect((limited.json["retry_after_ms"]?.intValue ?? 0) > 0)
        }
    }

    @Test func pathParametersArePercentDecoded() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let profile = try await server.call(.get, "/_matrix/client/v3/profile/%40alice%3Alocalhost")
            #expect(profile.status == 200)
            #expect(profile.json["displayname"] == "alice")
            let r0 = try await server.call(.get, "/_matrix/client/r0/profile/@alice:localhost", token: alice.token)
            #expect(r0.status == 200)
            let badEscape = try await server.call(.get, "/_matrix/client/v3/profile/%ZZ")
            #expect(badEscape.status == 400)
        }
    }

    @Test func metricsAreOffByDefault() async throws {
        try await TestServer.run { server throws in
            let metrics = try await server.call(.get, "/metrics")
            #expect(metrics.errcode == "M_UNRECOGNIZED")
        }
    }

    @Test func metricsNeedTheirTokenWhenOneIsSet() async throws {
        try await TestServer.run(configure: { $0.metricsEnabled = true; $0.metricsToken = "scrape-me" }) { server throws in
            #expect(try await server.call(.get, "/metrics").status == 401)
            #expect(try await server.call(.get, "/metrics", token: "wrong").status == 401)
            #expect(try await server.call(.get, "/metrics", token: "scrape-me").status == 200)
        }
    }

    @Test func metricsCountRequests() async throws {
        try await TestServer.run(configure: { $0.metricsEnabled = true }) { server in
            _ = try await server.call(.get, "/_matrix/client/versions")
            let metrics = try await server.call(.get, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.raw.contains(#"axon_http_requests_total{method="GET",route="/_matrix/client/versions",status="200"} 1"#))
            // The storage caches are counted too, each with its share of cache_memory_mb.
            #expect(metrics.raw.contains("# TYPE axon_cache_hits_total counter"))
            #expect(metrics.raw.contains(#"axon_cache_budget_bytes{cache="events"} "#))
        }
    }

    static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
