import MatrixModel
import Testing

@Suite struct TypingTests {
    func typers(_ sync: TestServer.Reply, _ roomID: String) -> [String]? {
        sync.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?.arrayValue?
            .first { $0["type"] == "m.typing" }?["content"]?["user_ids"]?.arrayValue?.compactMap(\.stringValue)
    }

    @Test func typingReachesOtherMembersAndStops() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            let typingPath = server.room(roomID, "/typing/@alice:localhost")
            #expect(try await server.call(.put, typingPath, token: alice.token, json: ["typing": true, "timeout": 20000]).status == 200)
            let typing = try await server.sync(bob.token, "since=\(since)")
            #expect(typers(typing, roomID) == ["@alice:localhost"])
            #expect(typers(try await server.sync(bob.token), roomID) == ["@alice:localhost"])
            let next = try #require(typing.json["next_batch"]?.stringValue)
            #expect(try await server.call(.put, typingPath, token: alice.token, json: ["typing": false]).status == 200)
            #expect(typers(try await server.sync(bob.token, "since=\(next)"), roomID) == [])
            #expect(typers(try await server.sync(bob.token), roomID) == nil)
        }
    }

    @Test func typingErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            #expect(try await server.call(.put, server.room(roomID, "/typing/@alice:localhost"), token: bob.token, json: ["typing": true]).status == 403)
            #expect(try await server.call(.put, server.room(roomID, "/typing/@bob:localhost"), token: bob.token, json: ["typing": true]).status == 403)
            #expect(try await server.call(.put, server.room(roomID, "/typing/@alice:localhost"), token: alice.token, json: [:]).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.put, server.room(roomID, "/typing/@alice:localhost"), token: alice.token, json: ["typing": true, "timeout": "soon"]).errcode == "M_BAD_JSON")
        }
    }
}
