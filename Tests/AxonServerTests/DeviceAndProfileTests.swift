import MatrixModel
import Testing

@Suite struct DeviceTests {
    @Test func listGetRename() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice", device: "ONE")
            let devices = try await server.call(.get, "/_matrix/client/v3/devices", token: alice.token)
            let first = try #require(devices.json["devices"]?.arrayValue?.first)
            #expect(first["device_id"] == "ONE")
            #expect(first["last_seen_ts"]?.intValue != nil)
            #expect(try await server.call(.put, "/_matrix/client/v3/devices/ONE", token: alice.token, json: ["display_name": "Work"]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/devices/ONE", token: alice.token).json["display_name"] == "Work")
            let missing = try await server.call(.get, "/_matrix/client/v3/devices/NOPE", token: alice.token)
            #expect(missing.status == 404)
            #expect(missing.errcode == "M_NOT_FOUND")
            #expect(try await server.call(.put, "/_matrix/client/v3/devices/NOPE", token: alice.token, json: ["display_name": "x"]).status == 404)
        }
    }

    @Test func devicesOfOtherUsersAreInvisible() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice", device: "ALICEDEV")
            let bob = try await server.register("bob")
            #expect(try await server.call(.get, "/_matrix/client/v3/devices/ALICEDEV", token: bob.token).status == 404)
            #expect(try await server.call(.get, "/_matrix/client/v3/devices/ALICEDEV", token: alice.token).status == 200)
        }
    }

    @Test func deletionNeedsThePassword() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice", device: "ONE")
            let two = try #require(try await server.login("alice", device: "TWO").json["access_token"]?.stringValue)
            _ = try await server.login("alice", device: "THREE")
            _ = try await server.login("alice", device: "FOUR")
            let challenge = try await server.call(.delete, "/_matrix/client/v3/devices/TWO", token: alice.token)
            #expect(challenge.status == 401)
            #expect(challenge.json["flows"] == [["stages": ["m.login.password"]]])
            let done = try await server.call(
                .delete, "/_matrix/client/v3/devices/TWO", token: alice.token,
                json: ["auth": server.passwordAuth("alice", session: challenge.json["session"])])
            #expect(done.status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: two).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await server.call(.delete, "/_matrix/client/v3/devices/NOPE", token: alice.token).status == 404)

            #expect(try await server.call(.post, "/_matrix/client/v3/delete_devices", token: alice.token, json: ["devices": ["THREE"]]).status == 401)
            #expect(try await server.call(.post, "/_matrix/client/v3/delete_devices", token: alice.token, json: ["auth": server.passwordAuth("alice")]).errcode == "M_MISSING_PARAM")
            let many = try await server.call(
                .post, "/_matrix/client/v3/delete_devices", token: alice.token,
                json: ["devices": ["THREE", "FOUR"], "auth": server.passwordAuth("alice")])
            #expect(many.status == 200)
            let left = try await server.call(.get, "/_matrix/client/v3/devices", token: alice.token)
            #expect(left.json["devices"]?.arrayValue?.compactMap { $0["device_id"]?.stringValue } == ["ONE"])
        }
    }
}

@Suite struct ProfileTests {
    @Test func displayNameAvatarAndCustomFields() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let base = "/_matrix/client/v3/profile/@alice:localhost"
            #expect(try await server.call(.get, base).json == ["displayname": "alice"])
            #expect(try await server.call(.put, base + "/displayname", token: alice.token, json: ["displayname": "Alice A."]).status == 200)
            #expect(try await server.call(.put, base + "/avatar_url", token: alice.token, json: ["avatar_url": "mxc://localhost/abc"]).status == 200)
            #expect(try await server.call(.put, base + "/m.tz", token: alice.token, json: ["m.tz": "Europe/Berlin"]).status == 200)
            #expect(try await server.call(.put, base + "/org.example.pets", token: alice.token, json: ["org.example.pets": ["cat"]]).status == 200)
            let profile = try await server.call(.get, base)
            #expect(profile.json["displayname"] == "Alice A.")
            #expect(profile.json["avatar_url"] == "mxc://localhost/abc")
            #expect(profile.json["org.example.pets"] == ["cat"])
            #expect(try await server.call(.get, base + "/m.tz").json == ["m.tz": "Europe/Berlin"])
            #expect(try await server.call(.delete, base + "/m.tz", token: alice.token).status == 200)
            #expect(try await server.call(.get, base + "/m.tz").status == 404)
        }
    }

    @Test func profileErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            _ = try await server.register("bob")
            let bobs = "/_matrix/client/v3/profile/@bob:localhost/displayname"
            let other = try await server.call(.put, bobs, token: alice.token, json: ["displayname": "Mallory"])
            #expect(other.status == 403)
            #expect(other.errcode == "M_FORBIDDEN")
            let mine = "/_matrix/client/v3/profile/@alice:localhost"
            #expect(try await server.call(.put, mine + "/displayname", token: alice.token, json: ["displayname": 5]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.put, mine + "/displayname", token: alice.token, json: ["other": "x"]).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.put, mine + "/avatar_url", token: alice.token, json: ["avatar_url": "http://x"]).errcode == "M_INVALID_PARAM")
            let longKey = String(repeating: "k", count: 300)
            #expect(try await server.call(.put, mine + "/" + longKey, token: alice.token, json: [longKey: "x"]).errcode == "M_KEY_TOO_LARGE")
            let huge = String(repeating: "x", count: 70_000)
            #expect(try await server.call(.put, mine + "/org.example.big", token: alice.token, json: ["org.example.big": .string(huge)]).errcode == "M_PROFILE_TOO_LARGE")
            #expect(try await server.call(.get, "/_matrix/client/v3/profile/@nobody:localhost").status == 404)
            #expect(try await server.call(.get, "/_matrix/client/v3/profile/notauser").errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.put, mine + "/displayname", json: ["displayname": "x"]).errcode == "M_MISSING_TOKEN")
        }
    }
}
