import HTTPTypes
import MatrixModel
import Testing

/// Synapse's room admin API: the list, blocking and deletion.
@Suite struct AdminRoomTests {
    @Test func onlyAdminsMayCallIt() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let room = TestServer.path(roomID)
            let calls: [(HTTPRequest.Method, String)] = [
                (.get, "/_synapse/admin/v1/rooms"), (.get, "/_synapse/admin/v1/rooms/\(room)/block"),
                (.put, "/_synapse/admin/v1/rooms/\(room)/block"), (.delete, "/_synapse/admin/v1/rooms/\(room)"),
                (.delete, "/_synapse/admin/v2/rooms/\(room)"), (.get, "/_synapse/admin/v2/rooms/\(room)/delete_status"),
                (.get, "/_synapse/admin/v2/rooms/delete_status/abc"),
            ]
            for (method, path) in calls {
                let reply = try await server.call(method, path, token: alice.token, json: ["block": true])
                #expect(reply.status == 403 && reply.errcode == "M_FORBIDDEN", "\(path): \(reply.raw)")
            }
            #expect(try await server.server.storage.room(id: roomID) != nil)
        }
    }

    @Test func listingSearchesSortsAndPages() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let big = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Big room", "room_alias_name": "lobby"])
            _ = try await server.call(.post, "/_matrix/client/v3/join/\(TestServer.path(big))", token: bob.token, json: [:])
            let small = try await server.createRoom(bob.token, ["preset": "private_chat", "name": "Another room", "visibility": "public"])
            let unnamed = try await server.createRoom(alice.token, ["preset": "private_chat"])
            _ = try await server.call(.post, server.room(unnamed, "/leave"), token: alice.token, json: [:])

            let all = try await server.call(.get, "/_synapse/admin/v1/rooms", token: root)
            #expect(all.json["total_rooms"] == 3 && all.json["offset"] == 0 && all.json["next_batch"] == nil, "\(all.raw)")
            // By name, A to Z, the unnamed room last.
            #expect(all.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(small), .string(big), .string(unnamed)])
            let first = try #require(all.json["rooms"]?[1])
            #expect(first["name"] == "Big room" && first["canonical_alias"] == "#lobby:localhost" && first["joined_members"] == 2)
            #expect(first["joined_local_members"] == 2 && first["creator"] == .string(alice.userID) && first["public"] == false)
            #expect(first["join_rules"] == "public" && first["federatable"] == true && first["state_events"]?.intValue ?? 0 >= 6)

            let bySize = try await server.call(.get, "/_synapse/admin/v1/rooms?order_by=joined_members", token: root)
            #expect(bySize.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(big), .string(small), .string(unnamed)])
            let page = try await server.call(.get, "/_synapse/admin/v1/rooms?order_by=size&dir=b&limit=2", token: root)
            #expect(page.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(unnamed), .string(small)])
            #expect(page.json["next_batch"] == 2)
            let next = try await server.call(.get, "/_synapse/admin/v1/rooms?order_by=size&dir=b&limit=2&from=2", token: root)
            #expect(next.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(big)] && next.json["prev_batch"] == 0)

            let searched = try await server.call(.get, "/_synapse/admin/v1/rooms?search_term=BIG", token: root)
            #expect(searched.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(big)] && searched.json["total_rooms"] == 1)
            let byAlias = try await server.call(.get, "/_synapse/admin/v1/rooms?search_term=lob", token: root)
            #expect(byAlias.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(big)])
            let byID = try await server.call(.get, "/_synapse/admin/v1/rooms?search_term=\(TestServer.path(unnamed))", token: root)
            #expect(byID.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(unnamed)])
            let directory = try await server.call(.get, "/_synapse/admin/v1/rooms?public_rooms=true", token: root)
            #expect(directory.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(small)])
            let empty = try await server.call(.get, "/_synapse/admin/v1/rooms?empty_rooms=true", token: root)
            #expect(empty.json["rooms"]?.arrayValue?.map { $0["room_id"] } == [.string(unnamed)])
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms?order_by=colour", token: root).status == 400)
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms?dir=up", token: root).status == 400)
        }
    }

    @Test func aBlockedRoomTakesNoOneIn() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let carol = try await server.register("carol")
            let block = "/_synapse/admin/v1/rooms/\(TestServer.path(roomID))/block"
            #expect(try await server.call(.get, block, token: root).json == ["block": false])
            #expect(try await server.call(.put, block, token: root, json: ["block": true]).json == ["block": true])
            #expect(try await server.call(.get, block, token: root).json == ["block": true, "user_id": "@root:localhost"])
            let join = try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:])
            #expect(join.status == 403 && join.errcode == "M_FORBIDDEN")
            let invite = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": .string(carol.userID)])
            #expect(invite.status == 403)
            // Members already in it may still talk and leave.
            #expect(try await server.send(bob.token, roomID, "still here").status == 200)
            #expect(try await server.call(.put, block, token: root, json: ["block": "yes"]).status == 400)
            #expect(try await server.call(.put, block, token: root, json: ["block": false]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:]).status == 200)
        }
    }

    @Test func aDeletedRoomIsGoneForEveryMember() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            _ = try await server.call(.put, "/_matrix/client/v3/directory/room/%23doomed:localhost", token: alice.token, json: ["room_id": .string(roomID)])
            _ = try await server.call(.put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: alice.token, json: ["visibility": "public"])
            try await server.send(alice.token, roomID, "forbidden content")
            let before = try await server.call(.get, "/_matrix/client/v3/sync", token: bob.token)
            #expect(before.json["rooms"]?["join"]?[roomID] != nil)

            let deleted = try await server.call(
                .delete, "/_synapse/admin/v1/rooms/\(TestServer.path(roomID))", token: root,
                json: ["new_room_user_id": "@root:localhost", "block": true, "message": "Moved"])
            #expect(deleted.status == 200, "\(deleted.raw)")
            #expect(deleted.json["kicked_users"] == [.string(alice.userID), .string(bob.userID)] && deleted.json["failed_to_kick_users"] == [])
            #expect(deleted.json["local_aliases"] == ["#doomed:localhost"])
            let newRoom = try #require(deleted.json["new_room_id"]?.stringValue)

            // Gone: from every member's sync, the directory, the admin list; the alias moved.
            for token in [alice.token, bob.token] {
                let sync = try await server.call(.get, "/_matrix/client/v3/sync", token: token)
                #expect(sync.json["rooms"]?["join"]?[roomID] == nil, "\(sync.raw)")
                #expect(sync.json["rooms"]?["join"]?[newRoom] != nil)
                #expect(server.bodies(try await server.messages(token, newRoom)).contains("Moved"))
            }
            let directory = try await server.call(.get, "/_matrix/client/v3/publicRooms", token: bob.token)
            #expect(directory.json["chunk"]?.arrayValue?.contains { $0["room_id"] == .string(roomID) } == false)
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms/\(TestServer.path(roomID))", token: root).status == 404)
            #expect(try await server.server.storage.room(id: roomID) == nil)
            let alias = try await server.call(.get, "/_matrix/client/v3/directory/room/%23doomed:localhost", token: bob.token)
            #expect(alias.json["room_id"] == .string(newRoom))
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 403)
            #expect(try await server.call(.delete, "/_synapse/admin/v1/rooms/!nope:localhost", token: root, json: [:]).status == 404)
        }
    }

    @Test func theV2DeletionRunsBehindItsID() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (_, bob, roomID) = try await server.aliceAndBobInARoom()
            let started = try await server.call(.delete, "/_synapse/admin/v2/rooms/\(TestServer.path(roomID))", token: root, json: ["purge": true])
            let deleteID = try #require(started.json["delete_id"]?.stringValue, "\(started.raw)")
            var status = JSON.null
            for _ in 0..<200 {
                status = try await server.call(.get, "/_synapse/admin/v2/rooms/delete_status/\(deleteID)", token: root).json
                if status["status"] == "complete" || status["status"] == "failed" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status["status"] == "complete", "\(status)")
            #expect(status["shutdown_room"]?["kicked_users"]?.arrayValue?.contains(.string(bob.userID)) == true)
            let byRoom = try await server.call(.get, "/_synapse/admin/v2/rooms/\(TestServer.path(roomID))/delete_status", token: root)
            #expect(byRoom.json["results"]?[0]?["delete_id"] == .string(deleteID) && byRoom.json["results"]?[0]?["status"] == "complete")
            #expect(try await server.server.storage.room(id: roomID) == nil)
            #expect(try await server.call(.get, "/_synapse/admin/v2/rooms/delete_status/unknown", token: root).status == 404)
            let bad = try await server.call(.delete, "/_synapse/admin/v2/rooms/\(TestServer.path(roomID))", token: root, json: ["block": "no"])
            #expect(bad.status == 400)
        }
    }
}

/// Every route of Synapse's admin API refuses a user who is not a server admin, and changes
/// nothing for them: checked over the router's own list, so a new route cannot be missed.
@Suite struct AdminAccessTests {
    @Test func everyAdminRouteRefusesNonAdmins() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            // Open by design: the version, shared-secret registration (its own secret).
            let open: Set<String> = ["/_synapse/admin/v1/server_version", "/_synapse/admin/v1/register"]
            let admin = server.server.routeList.filter { $0.pattern.hasPrefix("/_synapse/admin/") && !open.contains($0.pattern) }
            #expect(admin.count > 60)
            for route in admin {
                var path = route.pattern
                for (parameter, value) in [
                    ("{userId}", "@bob:localhost"), ("{roomId}", TestServer.path(roomID)), ("{roomIdOrAlias}", TestServer.path(roomID)),
                    ("{serverName}", "localhost"), ("{destination}", "remote.example"),
                ] {
                    path = path.replacingOccurrences(of: parameter, with: value)
                }
                path = path.replacingOccurrences(of: #"\{[A-Za-z]+\}"#, with: "x", options: .regularExpression)
                let reply = try await server.call(HTTPRequest.Method(route.method)!, path, token: alice.token, json: ["user_id": .string(alice.userID)])
                #expect(reply.status == 403 && reply.errcode == "M_FORBIDDEN", "\(route.method) \(route.pattern): \(reply.status) \(reply.raw)")
            }
            #expect(try await server.server.storage.room(id: roomID) != nil)
            #expect(try await server.server.storage.account(userID: alice.userID)?.isAdmin == false)
        }
    }
}
