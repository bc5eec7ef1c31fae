import MatrixModel
import Testing

@Suite struct MembershipTests {
    @Test func inviteJoinKickBanUnban() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat"])
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@nobody:localhost"]).status == 404)
            #expect(try await server.call(.post, "/_matrix/client/v3/join/\(TestServer.path(roomID))", token: bob.token, json: [:]).json["room_id"] == .string(roomID))
            #expect(try await server.call(.get, "/_matrix/client/v3/joined_rooms", token: bob.token).json["joined_rooms"] == [.string(roomID)])
            let joined = try await server.call(.get, server.room(roomID, "/joined_members"), token: alice.token)
            #expect(joined.json["joined"]?["@bob:localhost"]?["display_name"] == "bob")
            // Bob cannot kick Alice; Alice kicks Bob with a reason.
            #expect(try await server.call(.post, server.room(roomID, "/kick"), token: bob.token, json: ["user_id": "@alice:localhost"]).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/kick"), token: alice.token, json: ["user_id": "@bob:localhost", "reason": "bye"]).status == 200)
            let kicked = try await server.call(.get, server.room(roomID, "/state/m.room.member/@bob:localhost"), token: alice.token)
            #expect(kicked.json == ["membership": "leave", "reason": "bye"])
            #expect(try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 200)
            _ = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@bob:localhost"])
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/unban"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/unban"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/kick"), token: alice.token, json: [:]).errcode == "M_MISSING_PARAM")
        }
    }

    @Test func joinByAliasAndDirectory() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_alias_name": "lobby", "visibility": "public", "name": "Lobby"])
            let resolved = try await server.call(.get, "/_matrix/client/v3/directory/room/%23lobby%3Alocalhost")
            #expect(resolved.json["room_id"] == .string(roomID))
            #expect(resolved.json["servers"] == ["localhost"])
            #expect(try await server.call(.post, "/_matrix/client/v3/join/%23lobby%3Alocalhost", token: bob.token, json: [:]).status == 200)
            #expect(try await server.call(.post, "/_matrix/client/v3/join/%23nothing%3Alocalhost", token: bob.token, json: [:]).status == 404)
            #expect(try await server.call(.put, "/_matrix/client/v3/directory/room/%23second%3Alocalhost", token: bob.token, json: ["room_id": .string(roomID)]).status == 200)
            #expect(try await server.call(.put, "/_matrix/client/v3/directory/room/%23second%3Alocalhost", token: bob.token, json: ["room_id": .string(roomID)]).status == 409)
            #expect(try await server.call(.put, "/_matrix/client/v3/directory/room/%23x%3Aelsewhere", token: bob.token, json: ["room_id": .string(roomID)]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.get, server.room(roomID, "/aliases"), token: bob.token).json["aliases"] == ["#lobby:localhost", "#second:localhost"])
            #expect(try await server.call(.delete, "/_matrix/client/v3/directory/room/%23lobby%3Alocalhost", token: bob.token).status == 403)
            #expect(try await server.call(.delete, "/_matrix/client/v3/directory/room/%23second%3Alocalhost", token: bob.token).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/directory/room/%23second%3Alocalhost").status == 404)
            let listed = try await server.call(.get, "/_matrix/client/v3/publicRooms")
            #expect(listed.json["chunk"]?.arrayValue?.first?["name"] == "Lobby")
            #expect(listed.json["chunk"]?.arrayValue?.first?["num_joined_members"] == 2)
            #expect(try await server.call(.post, "/_matrix/client/v3/publicRooms", token: bob.token, json: ["filter": ["generic_search_term": "lob"]]).json["chunk"]?.arrayValue?.count == 1)
            #expect(try await server.call(.post, "/_matrix/client/v3/publicRooms", token: bob.token, json: ["filter": ["generic_search_term": "zzz"]]).json["chunk"]?.arrayValue?.count == 0)
            #expect(try await server.call(.get, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))").json["visibility"] == "public")
            #expect(try await server.call(.put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: bob.token, json: ["visibility": "private"]).status == 403)
            #expect(try await server.call(.put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: alice.token, json: ["visibility": "private"]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms").json["chunk"] == [])
            // Offsets are client input: bad ones are 400s, not a crash of the whole server.
            for since in ["p-5", "p99999999999999999999", "x3", "p9223372036854775807"] {
                #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms?since=\(since)").errcode == "M_INVALID_PARAM", "\(since)")
            }
        }
    }

    @Test func knocking() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(
                alice.token,
                ["preset": "private_chat", "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "knock"]]]])
            let knock = try await server.call(.post, "/_matrix/client/v3/knock/\(TestServer.path(roomID))", token: bob.token, json: ["reason": "hi"])
            #expect(knock.json["room_id"] == .string(roomID))
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.member/@bob:localhost"), token: alice.token).json["membership"] == "knock")
            #expect(try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 200)
            let closed = try await server.createRoom(alice.token, ["preset": "private_chat"])
            #expect(try await server.call(.post, "/_matrix/client/v3/knock/\(TestServer.path(closed))", token: bob.token, json: [:]).status == 403)
        }
    }
}

/// The seed `leaving.yaml`, every clause.
@Suite struct LeaveAndForgetTests {
    @Test func leavingKeepsHistoryUpToTheLeave() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "before")
            #expect(try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: ["reason": "done"]).status == 200)
            try await server.send(alice.token, roomID, "after")
            let history = try await server.messages(bob.token, roomID)
            #expect(history.status == 200)
            #expect(server.bodies(history) == ["before"])
            let types = history.json["chunk"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
            #expect(types.first == "m.room.member")
            // State and members as of the leave, not later.
            let topicAfter = try await server.call(.put, server.room(roomID, "/state/m.room.topic"), token: alice.token, json: ["topic": "secret plans"])
            #expect(topicAfter.status == 200)
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.topic"), token: bob.token).status == 404)
            #expect(try await server.call(.get, server.room(roomID, "/members"), token: bob.token).status == 200)
            #expect(try await server.call(.get, server.room(roomID, "/joined_members"), token: bob.token).json["joined"]?["@bob:localhost"] == nil)
            // Alice is unaffected.
            #expect(server.bodies(try await server.messages(alice.token, roomID)) == ["after", "before"])
        }
    }

    @Test func leavingAnInviteRejectsIt() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat", "invite": ["@bob:localhost"]])
            #expect(try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:]).status == 200)
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.member/@bob:localhost"), token: alice.token).json["membership"] == "leave")
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:]).status == 200)
        }
    }

    @Test func forgetIsRefusedWhileJoinedOrInvited() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat", "invite": ["@bob:localhost"]])
            let joined = try await server.call(.post, server.room(roomID, "/forget"), token: alice.token, json: [:])
            #expect(joined.status == 400)
            #expect(joined.errcode == "M_UNKNOWN")
            let invited = try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:])
            #expect(invited.status == 400)
            #expect(invited.errcode == "M_UNKNOWN")
        }
    }

    @Test func forgettingHidesTheRoomOnEveryReadPath() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let eventID = try await server.send(alice.token, roomID, "seen").json["event_id"]!.stringValue!
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            #expect(try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:]).status == 200)
            let event = TestServer.path(eventID)
            #expect(try await server.messages(bob.token, roomID).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/state"), token: bob.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.create"), token: bob.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/members"), token: bob.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/joined_members"), token: bob.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/event/\(event)"), token: bob.token).status == 404)
            #expect([403, 404].contains(try await server.call(.get, server.room(roomID, "/context/\(event)"), token: bob.token).status))
            // Other members are unaffected.
            #expect(server.bodies(try await server.messages(alice.token, roomID)).contains("seen"))
            // Rejoining works and brings the room back.
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 200)
            #expect(server.bodies(try await server.messages(bob.token, roomID)).contains("seen"))
        }
    }

    @Test func forgetAfterBan() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": "@bob:localhost"])
            #expect(try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:]).status == 200)
            #expect(try await server.messages(bob.token, roomID).status == 403)
            #expect(try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:]).status == 200)
            #expect(try await server.call(.post, "/_matrix/client/v3/rooms/%21never%3Alocalhost/forget", token: bob.token, json: [:]).status == 404)
        }
    }

    @Test func aRoomEveryoneForgotIsPurged() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["room_alias_name": "gone"])
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: alice.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/forget"), token: alice.token, json: [:])
            #expect(try await server.server.storage.room(id: roomID) == nil)
            #expect(try await server.call(.get, "/_matrix/client/v3/directory/room/%23gone%3Alocalhost").status == 404)
        }
    }
}

@Suite struct HistoryVisibilityTests {
    func room(_ server: TestServer, visibility: String, owner: TestServer.Session) async throws -> String {
        let roomID = try await server.createRoom(owner.token, ["preset": "public_chat"])
        _ = try await server.call(.put, server.room(roomID, "/state/m.room.history_visibility"), token: owner.token, json: ["history_visibility": .string(visibility)])
        try await server.send(owner.token, roomID, "early")
        return roomID
    }

    @Test func joinedHidesEarlierHistory() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await room(server, visibility: "joined", owner: alice)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "late")
            #expect(server.bodies(try await server.messages(bob.token, roomID)) == ["late"])
        }
    }

    @Test func sharedShowsEarlierHistoryToJoinedMembers() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await room(server, visibility: "shared", owner: alice)
            #expect(try await server.messages(bob.token, roomID).status == 403)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            #expect(server.bodies(try await server.messages(bob.token, roomID)) == ["early"])
        }
    }

    @Test func invitedShowsHistoryFromTheInvite() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await room(server, visibility: "invited", owner: alice)
            _ = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@bob:localhost"])
            try await server.send(alice.token, roomID, "while invited")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            #expect(server.bodies(try await server.messages(bob.token, roomID)) == ["while invited"])
        }
    }

    @Test func worldReadableIsReadableWithoutJoining() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await room(server, visibility: "world_readable", owner: alice)
            let history = try await server.messages(bob.token, roomID)
            #expect(history.status == 200)
            #expect(server.bodies(history) == ["early"])
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.name"), token: bob.token).status == 404)
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.create"), token: bob.token).status == 200)
        }
    }
}

@Suite struct RestrictedJoinTests {
    @Test(arguments: ["8", "9", "10", "11", "12"])
    func membersOfAnAllowedRoomMayJoin(version: String) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let space = try await server.createRoom(alice.token, ["preset": "private_chat", "invite": ["@bob:localhost"]])
            _ = try await server.call(.post, server.room(space, "/join"), token: bob.token, json: [:])
            let restricted = try await server.createRoom(
                alice.token,
                [
                    "room_version": .string(version), "preset": "private_chat",
                    "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "restricted", "allow": [["type": "m.room_membership", "room_id": .string(space)]]]]],
                ])
            #expect(try await server.call(.post, server.room(restricted, "/join"), token: carol.token, json: [:]).status == 403)
            #expect(try await server.call(.post, server.room(restricted, "/join"), token: bob.token, json: [:]).status == 200)
            let member = try await server.call(.get, server.room(restricted, "/state/m.room.member/@bob:localhost"), token: alice.token)
            #expect(member.json["join_authorised_via_users_server"] == "@alice:localhost")
        }
    }
}

/// Spec "History visibility" for people outside the room: a registered user who never
/// joined and a guest, on every read path, for every value (nil: an event without one, which
/// reads as the default, `shared`).
@Suite struct HistoryVisibilityTableTests {
    static let values: [String?] = ["world_readable", "shared", "invited", "joined", nil]

    @Test(arguments: values, [false, true])
    func outsidersReadOnlyWorldReadableRooms(visibility: String?, guest: Bool) async throws {
        try await TestServer.run(configure: { $0.allowGuestAccess = true }) { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "initial_state": [["type": "m.room.guest_access", "content": ["guest_access": "can_join"]]]])
            let setting = try await server.call(
                .put, server.room(roomID, "/state/m.room.history_visibility"), token: alice.token,
                json: visibility.map { ["history_visibility": .string($0)] } ?? [:])
            #expect(setting.status == 200)
            try await server.send(alice.token, roomID, "early")
            let token: String
            if guest {
                token = try #require(try await server.call(.post, "/_matrix/client/v3/register?kind=guest", json: [:]).json["access_token"]?.stringValue)
            } else {
                token = try await server.register("bob").token
            }
            let readable = visibility == "world_readable"
            let messages = try await server.messages(token, roomID)
            #expect(messages.status == (readable ? 200 : 403))
            #expect(server.bodies(messages) == (readable ? ["early"] : []))
            #expect(try await server.call(.get, server.room(roomID, "/state"), token: token).status == (readable ? 200 : 403))
            let initial = try await server.call(.get, server.room(roomID, "/initialSync"), token: token)
            #expect(initial.status == (readable ? 200 : 403))
            let initialBodies = initial.json["messages"]?["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
            #expect(initialBodies == (readable ? ["early"] : []))
            let peek = try await server.call(.get, "/_matrix/client/v3/events?timeout=0&room_id=\(TestServer.path(roomID))", token: token)
            #expect(peek.status == (readable ? 200 : 403), "\(peek.raw)")
            // /sync shows only rooms one is in, however readable.
            #expect(try await server.sync(token).json["rooms"]?["join"]?[roomID] == nil)

            // Having joined, earlier history shows for shared (and unset) and world_readable only.
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: token, json: [:]).status == 200)
            let earlierVisible = visibility == nil || visibility == "shared" || readable
            #expect(server.bodies(try await server.messages(token, roomID)) == (earlierVisible ? ["early"] : []))
            let synced = try await server.sync(token)
            #expect(server.timelineBodies(synced, roomID) == (earlierVisible ? ["early"] : []))
            let afterJoin = try await server.call(.get, server.room(roomID, "/initialSync"), token: token)
            #expect(
                (afterJoin.json["messages"]?["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? [])
                    == (earlierVisible ? ["early"] : []))
        }
    }
}
