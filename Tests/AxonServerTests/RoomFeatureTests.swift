import MatrixModel
import Testing

@Suite struct RelationAndThreadTests {
    @Test func relationsAndThreads() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let root = try await server.send(alice.token, roomID, "root").json["event_id"]!.stringValue!
            for i in 1...3 {
                _ = try await server.call(
                    .put, server.room(roomID, "/send/m.room.message/th\(i)"), token: bob.token,
                    json: ["msgtype": "m.text", "body": .string("reply \(i)"), "m.relates_to": ["rel_type": "m.thread", "event_id": .string(root)]])
            }
            _ = try await server.call(
                .put, server.room(roomID, "/send/m.reaction/r1"), token: bob.token,
                json: ["m.relates_to": ["rel_type": "m.annotation", "event_id": .string(root), "key": "👍"]])
            let base = "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/relations/\(TestServer.path(root))"
            let all = try await server.call(.get, base, token: alice.token)
            #expect(all.json["chunk"]?.arrayValue?.count == 4)
            let threadOnly = try await server.call(.get, base + "/m.thread?limit=2", token: alice.token)
            #expect(threadOnly.json["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } == ["reply 3", "reply 2"])
            let next = try #require(threadOnly.json["next_batch"]?.stringValue)
            let rest = try await server.call(.get, base + "/m.thread?limit=2&from=\(next)", token: alice.token)
            #expect(rest.json["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } == ["reply 1"])
            #expect(try await server.call(.get, base + "/m.annotation/m.reaction", token: alice.token).json["chunk"]?.arrayValue?.count == 1)
            #expect(try await server.call(.get, base + "?recurse=true", token: alice.token).json["recursion_depth"] == 1)
            #expect(try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/relations/%24nope", token: alice.token).status == 404)

            let threads = try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/threads", token: alice.token)
            let thread = try #require(threads.json["chunk"]?.arrayValue?.first)
            #expect(thread["event_id"] == .string(root))
            #expect(thread["unsigned"]?["m.relations"]?["m.thread"]?["count"] == 3)
            #expect(thread["unsigned"]?["m.relations"]?["m.thread"]?["latest_event"]?["content"]?["body"] == "reply 3")
            let carol = try await server.register("carol")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:])
            let participated = try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/threads?include=participated", token: carol.token)
            #expect(participated.json["chunk"] == [])
        }
    }
}

@Suite struct RoomUpgradeTests {
    @Test(arguments: [("10", "11"), ("10", "12"), ("1", "2"), ("2", "12"), ("12", "3"), ("5", "8")])
    func upgradeMovesStateAndAliases(from source: String, target: String) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let old = try await server.createRoom(alice.token, ["room_version": .string(source), "name": "Old", "room_alias_name": "up", "preset": "public_chat"])
            _ = try await server.call(.post, server.room(old, "/join"), token: bob.token, json: [:])
            #expect(try await server.call(.post, server.room(old, "/upgrade"), token: bob.token, json: ["new_version": .string(target)]).status == 403)
            #expect(try await server.call(.post, server.room(old, "/upgrade"), token: alice.token, json: ["new_version": "99"]).errcode == "M_UNSUPPORTED_ROOM_VERSION")
            let upgraded = try await server.call(.post, server.room(old, "/upgrade"), token: alice.token, json: ["new_version": .string(target)])
            let new = try #require(upgraded.json["replacement_room"]?.stringValue)
            #expect(try await server.call(.get, server.room(old, "/state/m.room.tombstone"), token: alice.token).json["replacement_room"] == .string(new))
            let create = try await server.call(.get, server.room(new, "/state/m.room.create"), token: alice.token)
            #expect(create.json["predecessor"]?["room_id"] == .string(old))
            #expect(create.json["room_version"] == .string(target))
            #expect(try await server.call(.get, server.room(new, "/state/m.room.name"), token: alice.token).json["name"] == "Old")
            #expect(try await server.call(.get, "/_matrix/client/v3/directory/room/%23up%3Alocalhost").json["room_id"] == .string(new))
            #expect(try await server.send(bob.token, old, "still here?").status == 403)
            #expect(try await server.call(.post, server.room(new, "/join"), token: bob.token, json: [:]).status == 200)
        }
    }
}

@Suite struct RoomPreviewTests {
    @Test func summaryAndHierarchy() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let space = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Space", "creation_content": ["type": "m.space"]])
            let child = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Child"])
            let hidden = try await server.createRoom(alice.token, ["preset": "private_chat", "name": "Hidden"])
            for room in [child, hidden] {
                _ = try await server.call(.put, server.room(space, "/state/m.space.child/\(TestServer.path(room))"), token: alice.token, json: ["via": ["localhost"]])
            }
            let summary = try await server.call(.get, "/_matrix/client/v1/room_summary/\(TestServer.path(child))", token: bob.token)
            #expect(summary.json["name"] == "Child")
            #expect(summary.json["membership"] == "leave")
            #expect(summary.json["join_rule"] == "public")
            #expect(try await server.call(.get, "/_matrix/client/v1/room_summary/\(TestServer.path(hidden))", token: bob.token).status == 404)
            #expect(try await server.call(.get, "/_matrix/client/v1/room_summary/\(TestServer.path(hidden))", token: alice.token).json["membership"] == "join")
            let tree = try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(space))/hierarchy", token: bob.token)
            let names = tree.json["rooms"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == ["Space", "Child"])
            #expect(tree.json["rooms"]?.arrayValue?.first?["room_type"] == "m.space")
            #expect(tree.json["rooms"]?.arrayValue?.first?["children_state"]?.arrayValue?.count == 2)
            let paged = try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(space))/hierarchy?limit=1", token: alice.token)
            #expect(paged.json["rooms"]?.arrayValue?.count == 1)
            let next = try #require(paged.json["next_batch"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(space))/hierarchy?limit=5&from=\(next)", token: alice.token).json["rooms"]?.arrayValue?.count == 2)
            for query in ["from=h-1", "from=h9223372036854775807", "limit=9223372036854775807&from=h1", "limit=0"] {
                let reply = try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(space))/hierarchy?\(query)", token: alice.token)
                #expect(reply.status == 400 || reply.status == 200, "\(query)")
            }
            #expect(try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(space))/hierarchy?from=h-1", token: alice.token).errcode == "M_INVALID_PARAM")
        }
    }
}

@Suite struct AccountRoomEffectsTests {
    @Test func deactivationLeavesRoomsAndProfilesPropagate() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            _ = try await server.call(.put, "/_matrix/client/v3/profile/@bob:localhost/displayname", token: bob.token, json: ["displayname": "Robert"])
            let member = try await server.call(.get, server.room(roomID, "/state/m.room.member/@bob:localhost"), token: alice.token)
            #expect(member.json["displayname"] == "Robert")
            #expect(member.json["membership"] == "join")
            _ = try await server.call(.post, "/_matrix/client/v3/account/deactivate", token: bob.token, json: ["auth": server.passwordAuth("bob")])
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.member/@bob:localhost"), token: alice.token).json["membership"] == "leave")
        }
    }
}
