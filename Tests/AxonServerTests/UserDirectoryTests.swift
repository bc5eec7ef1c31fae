import MatrixModel
import Testing

@Suite struct UserDirectoryTests {
    @Test func findsRoomPeersAndPublicRoomMembersOnly() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let dave = try await server.register("dave")
            _ = try await server.register("erin")
            _ = try await server.call(.put, "/_matrix/client/v3/profile/@bob:localhost/displayname", token: bob.token, json: ["displayname": "Robert Builder"])
            let privateRoom = try await server.createRoom(alice.token, ["preset": "private_chat", "invite": ["@bob:localhost"]])
            _ = try await server.call(.post, server.room(privateRoom, "/join"), token: bob.token, json: [:])
            let publicRoom = try await server.createRoom(carol.token, ["preset": "public_chat", "visibility": "public"])
            _ = try await server.call(.post, server.room(publicRoom, "/join"), token: dave.token, json: [:])
            let search = "/_matrix/client/v3/user_directory/search"
            func ids(_ reply: TestServer.Reply) -> [String] {
                reply.json["results"]?.arrayValue?.compactMap { $0["user_id"]?.stringValue } ?? []
            }
            // By display name, case-insensitively; Bob shares a room with Alice.
            let byName = try await server.call(.post, search, token: alice.token, json: ["search_term": "robert"])
            #expect(ids(byName) == ["@bob:localhost"])
            #expect(byName.json["results"]?.arrayValue?.first?["display_name"] == "Robert Builder")
            #expect(byName.json["limited"] == false)
            // Members of public rooms are findable; Erin, in no room, is not.
            #expect(ids(try await server.call(.post, search, token: alice.token, json: ["search_term": "dave"])) == ["@dave:localhost"])
            #expect(ids(try await server.call(.post, search, token: alice.token, json: ["search_term": "erin"])) == [])
            // Bob is not visible to Carol: no shared room, not in a public room.
            #expect(ids(try await server.call(.post, search, token: carol.token, json: ["search_term": "bob"])) == [])
            let limited = try await server.call(.post, search, token: alice.token, json: ["search_term": "", "limit": 1])
            #expect(ids(limited).count == 1)
            #expect(limited.json["limited"] == true)
            // Membership of a public room counts only while its join rule is public.
            _ = try await server.call(.put, server.room(publicRoom, "/state/m.room.join_rules"), token: carol.token, json: ["join_rule": "invite"])
            #expect(ids(try await server.call(.post, search, token: alice.token, json: ["search_term": "dave"])) == [])
            _ = try await server.call(.put, server.room(privateRoom, "/state/m.room.join_rules"), token: alice.token, json: ["join_rule": "public"])
            #expect(ids(try await server.call(.post, search, token: carol.token, json: ["search_term": "bob"])) == ["@bob:localhost"])
            #expect(try await server.call(.post, search, token: alice.token, json: [:]).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.post, search, token: alice.token, json: ["search_term": "a", "limit": "x"]).errcode == "M_BAD_JSON")
        }
    }
}
