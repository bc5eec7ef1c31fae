import MatrixModel
import Testing

@Suite struct PresenceTests {
    func presenceEvents(_ sync: TestServer.Reply) -> [JSON] {
        sync.json["presence"]?["events"]?.arrayValue ?? []
    }

    @Test func presenceIsSharedWithRoomPeersOnly() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let since = try #require(try await server.sync(bob.token, "set_presence=offline").json["next_batch"]?.stringValue)
            let carolSince = try #require(try await server.sync(carol.token, "set_presence=offline").json["next_batch"]?.stringValue)
            let status = "/_matrix/client/v3/presence/@alice:localhost/status"
            #expect(try await server.call(.put, status, token: alice.token, json: ["presence": "unavailable", "status_msg": "lunch"]).status == 200)
            let synced = try await server.sync(bob.token, "since=\(since)&set_presence=offline")
            let event = try #require(presenceEvents(synced).first { $0["sender"] == "@alice:localhost" })
            #expect(event["type"] == "m.presence")
            #expect(event["content"]?["presence"] == "unavailable")
            #expect(event["content"]?["status_msg"] == "lunch")
            let read = try await server.call(.get, status, token: bob.token)
            #expect(read.json["presence"] == "unavailable")
            #expect(read.json["last_active_ago"]?.intValue != nil)
            #expect(try await server.call(.get, status, token: carol.token).status == 403)
            #expect(presenceEvents(try await server.sync(carol.token, "set_presence=offline")).allSatisfy { $0["sender"] != "@alice:localhost" })
            // An incremental sync checks the changed users alone, and still only peers pass.
            let carolChanges = try await server.sync(carol.token, "since=\(carolSince)&set_presence=offline")
            #expect(carolChanges.status == 200)
            #expect(presenceEvents(carolChanges).allSatisfy { $0["sender"] != "@alice:localhost" })
            #expect(try await server.call(.put, status, token: bob.token, json: ["presence": "online"]).status == 403)
            #expect(try await server.call(.put, status, token: alice.token, json: ["presence": "dancing"]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.get, "/_matrix/client/v3/presence/@nobody:localhost/status", token: alice.token).status == 404)
        }
    }

    @Test func syncingMarksTheUserOnline() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            _ = try await server.sync(alice.token)
            #expect(try await server.call(.get, "/_matrix/client/v3/presence/@alice:localhost/status", token: alice.token).json["presence"] == "online")
        }
    }

    @Test func presenceCanBeSwitchedOff() async throws {
        try await TestServer.run(configure: { $0.presenceEnabled = false }) { server in
            let alice = try await server.register("alice")
            _ = try await server.call(.put, "/_matrix/client/v3/presence/@alice:localhost/status", token: alice.token, json: ["presence": "online"])
            #expect(try await server.call(.get, "/_matrix/client/v3/presence/@alice:localhost/status", token: alice.token).json["presence"] == "offline")
            #expect(try await server.sync(alice.token).json["presence"] == nil)
        }
    }
}
