import HTTPTypes
import MatrixModel
import Testing

/// Synapse's admin API for acting on rooms: reading history as an admin, extremities,
/// making a room admin, force joins, purging history and redacting a user.
@Suite struct AdminRoomActionTests {
    func waitFor(_ server: TestServer, _ path: String, token: String) async throws -> JSON {
        var status = JSON.null
        for _ in 0..<200 {
            status = try await server.call(.get, path, token: token).json
            if let word = status["status"]?.stringValue, ["complete", "failed"].contains(word) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return status
    }

    @Test func adminsReadHistoryTheyAreNotIn() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.history_visibility"), token: alice.token, json: ["history_visibility": "joined"])
            for index in 0..<5 { try await server.send(alice.token, roomID, "message \(index)") }
            let room = TestServer.path(roomID)
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms/\(room)/messages", token: bob.token).status == 403)
            let page = try await server.call(.get, "/_synapse/admin/v1/rooms/\(room)/messages?limit=3", token: root)
            #expect(server.bodies(page) == ["message 4", "message 3", "message 2"], "\(page.raw)")
            let end = try #require(page.json["end"]?.stringValue)
            let older = try await server.call(.get, "/_synapse/admin/v1/rooms/\(room)/messages?limit=2&from=\(end)", token: root)
            #expect(server.bodies(older) == ["message 1", "message 0"])
            let middle = try #require(page.json["chunk"]?[1]?["event_id"]?.stringValue)
            let context = try await server.call(.get, "/_synapse/admin/v1/rooms/\(room)/context/\(TestServer.path(middle))?limit=2", token: root)
            #expect(context.json["event"]?["content"]?["body"] == "message 3", "\(context.raw)")
            #expect(context.json["events_before"]?[0]?["content"]?["body"] == "message 2")
            #expect(context.json["events_after"]?[0]?["content"]?["body"] == "message 4")
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms/!none:localhost/messages", token: root).status == 404)

            let extremities = try await server.call(.get, "/_synapse/admin/v1/rooms/\(room)/forward_extremities", token: root)
            #expect(extremities.json["count"] == 1 && extremities.json["results"]?[0]?["event_id"] == page.json["chunk"]?[0]?["event_id"])
            #expect(try await server.call(.delete, "/_synapse/admin/v1/rooms/\(room)/forward_extremities", token: root).json == ["deleted": 0])
        }
    }

    @Test func makeRoomAdminAndForceJoin() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat", "room_version": "10"])
            let room = TestServer.path(roomID)
            // Invite-only: the admin is not in it, so carol cannot be pushed in.
            let refused = try await server.call(.post, "/_synapse/admin/v1/join/\(room)", token: root, json: ["user_id": .string(carol.userID)])
            #expect(refused.status == 403, "\(refused.raw)")
            // Root becomes the room's admin through alice's power, invited since the room is private.
            #expect(try await server.call(.post, "/_synapse/admin/v1/rooms/\(room)/make_room_admin", token: root, json: [:]).status == 200)
            let levels = try await server.call(.get, server.room(roomID, "/state/m.room.power_levels"), token: alice.token)
            #expect(levels.json["users"]?["@root:localhost"] == 100, "\(levels.raw)")
            #expect(try await server.server.storage.membership(roomID: roomID, userID: "@root:localhost")?.membership == "invite")
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: root, json: [:]).status == 200)
            // Now a member who may invite, root can force carol in.
            let joined = try await server.call(.post, "/_synapse/admin/v1/join/\(room)", token: root, json: ["user_id": .string(carol.userID)])
            #expect(joined.json == ["room_id": .string(roomID)], "\(joined.raw)")
            #expect(try await server.server.storage.membership(roomID: roomID, userID: carol.userID)?.membership == "join")
            #expect(try await server.call(.post, "/_synapse/admin/v1/join/\(room)", token: root, json: ["user_id": "@x:elsewhere"]).status == 400)
            #expect(try await server.call(.post, "/_synapse/admin/v1/rooms/\(room)/make_room_admin", token: carol.token, json: [:]).status == 403)
        }
    }

    @Test func historyIsPurgedAndAUserRedacted() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            for index in 0..<3 { try await server.send(bob.token, roomID, "old \(index)") }
            let cutoff = try #require(try await server.send(alice.token, roomID, "cutoff").json["event_id"]?.stringValue)
            try await server.send(bob.token, roomID, "new")
            let room = TestServer.path(roomID)
            let purge = try await server.call(
                .post, "/_synapse/admin/v1/purge_history/\(room)", token: root, json: ["purge_up_to_event_id": .string(cutoff), "delete_local_events": true])
            let purgeID = try #require(purge.json["purge_id"]?.stringValue, "\(purge.raw)")
            #expect(try await waitFor(server, "/_synapse/admin/v1/purge_history_status/\(purgeID)", token: root)["status"] == "complete")
            let remaining = server.bodies(try await server.messages(bob.token, roomID))
            #expect(remaining == ["new", "cutoff"], "\(remaining)")
            // State survives: the room still has its name, members, and takes new messages.
            #expect(try await server.call(.get, server.room(roomID, "/joined_members"), token: bob.token).json["joined"]?[bob.userID] != nil)
            #expect(try await server.call(.post, "/_synapse/admin/v1/purge_history/\(room)", token: root, json: [:]).status == 400)

            let redact = try await server.call(.post, "/_synapse/admin/v1/user/@bob:localhost/redact", token: root, json: ["rooms": [], "reason": "spam"])
            let redactID = try #require(redact.json["redact_id"]?.stringValue, "\(redact.raw)")
            let status = try await waitFor(server, "/_synapse/admin/v1/user/redact_status/\(redactID)", token: root)
            #expect(status == ["status": "complete", "failed_redactions": [:]], "\(status)")
            let chunk = try await server.messages(alice.token, roomID).json["chunk"]?.arrayValue ?? []
            let bobs = chunk.filter { $0["sender"] == .string(bob.userID) && $0["type"] == "m.room.message" }
            #expect(!bobs.isEmpty && bobs.allSatisfy { $0["content"] == [:] }, "\(bobs)")
            #expect(server.bodies(try await server.messages(alice.token, roomID)).contains("cutoff"))
            #expect(try await server.call(.get, "/_synapse/admin/v1/user/redact_status/nope", token: root).status == 404)
        }
    }
}
