import AxonServer
import Foundation
import MatrixModel
import Testing

@Suite struct RoomCreationTests {
    @Test(arguments: (1...12).map(String.init))
    func createsRoomsOfEachVersion(version: String) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "private_chat", "room_version": .string(version), "name": "N", "topic": "T"])
            if version == "12" {
                #expect(!roomID.contains(":"))
            } else {
                #expect(roomID.hasSuffix(":localhost"))
            }
            let state = try await server.call(.get, server.room(roomID, "/state"), token: alice.token)
            let types = Set(state.json.arrayValue?.compactMap { $0["type"]?.stringValue } ?? [])
            #expect(types.isSuperset(of: ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility", "m.room.name", "m.room.topic"]))
            let create = try await server.call(.get, server.room(roomID, "/state/m.room.create/"), token: alice.token)
            #expect(create.json["room_version"] == .string(version))
            let levels = try await server.call(.get, server.room(roomID, "/state/m.room.power_levels"), token: alice.token)
            #expect((levels.json["users"]?["@alice:localhost"] != nil) == (version != "12"))
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.name"), token: alice.token).json == ["name": "N"])
        }
    }

    /// Rooms of every version can be joined, written, redacted and read back.
    @Test(arguments: (1...12).map(String.init))
    func roomsOfEveryVersionWork(version: String) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": .string(version)])
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 200)
            let sent = try await server.send(bob.token, roomID, "hello v\(version)")
            let eventID = try #require(sent.json["event_id"]?.stringValue)
            // v1, v2 IDs name this server; v3 uses standard base64, v4+ URL-safe.
            switch Int(version)! {
            case 1, 2: #expect(eventID.hasSuffix(":localhost"))
            case 3: #expect(eventID.utf8.count == 44 && !eventID.contains(":"))
            default: #expect(eventID.utf8.count == 44 && !eventID.contains("+") && !eventID.contains("/"))
            }
            let fetched = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(eventID))"), token: alice.token)
            #expect(fetched.json["content"]?["body"] == .string("hello v\(version)"))
            #expect(server.bodies(try await server.messages(alice.token, roomID)).first == "hello v\(version)")
            let redaction = try await server.call(
                .put, server.room(roomID, "/redact/\(TestServer.path(eventID))/r1"), token: alice.token, json: ["reason": "test"])
            #expect(redaction.status == 200, "\(redaction.raw)")
            let after = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(eventID))"), token: alice.token)
            #expect(after.json["content"] == [:])
            #expect(try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:]).status == 200)
        }
    }

    @Test func creationErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let create = "/_matrix/client/v3/createRoom"
            #expect(try await server.call(.post, create, token: alice.token, json: ["room_version": "13"]).errcode == "M_UNSUPPORTED_ROOM_VERSION")
            _ = try await server.createRoom(alice.token, ["room_alias_name": "taken"])
            let taken = try await server.call(.post, create, token: alice.token, json: ["room_alias_name": "taken"])
            #expect(taken.status == 400)
            #expect(taken.errcode == "M_ROOM_IN_USE")
            #expect(try await server.call(.post, create, token: alice.token, json: ["invite": ["not-a-user"]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, create, token: alice.token, json: ["preset": "party"]).errcode == "M_INVALID_PARAM")
            let badState = try await server.call(
                .post, create, token: alice.token,
                json: ["initial_state": [["type": "m.room.member", "state_key": "@bob:localhost", "content": ["membership": "join"]]]])
            #expect(badState.errcode == "M_INVALID_ROOM_STATE")
            #expect(try await server.call(.post, create, json: [:]).errcode == "M_MISSING_TOKEN")
            // A rejected request leaves no room behind.
            #expect(try await server.call(.get, "/_matrix/client/v3/joined_rooms", token: alice.token).json["joined_rooms"]?.arrayValue?.count == 1)
        }
    }

    @Test func presetsInvitesAndInitialState() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(
                alice.token,
                [
                    "preset": "trusted_private_chat", "invite": ["@bob:localhost"], "is_direct": true,
                    "initial_state": [["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]]],
                    "creation_content": ["m.federate": false],
                ])
            let joinRules = try await server.call(.get, server.room(roomID, "/state/m.room.join_rules"), token: alice.token)
            #expect(joinRules.json["join_rule"] == "invite")
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.history_visibility"), token: alice.token).json["history_visibility"] == "joined")
            let create = try await server.call(.get, server.room(roomID, "/state/m.room.create"), token: alice.token)
            #expect(create.json["m.federate"] == false)
            #expect(create.json["additional_creators"] == ["@bob:localhost"])
            let members = try await server.call(.get, server.room(roomID, "/members"), token: alice.token)
            let invite = members.json["chunk"]?.arrayValue?.first { $0["state_key"] == "@bob:localhost" }
            #expect(invite?["content"]?["membership"] == "invite")
            #expect(invite?["content"]?["is_direct"] == true)
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 200)
        }
    }
}

@Suite struct RoomEventTests {
    @Test func sendIsIdempotentPerDeviceAndTransaction() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let first = try await server.send(alice.token, roomID, "hi", txn: "t1")
            let again = try await server.send(alice.token, roomID, "hi", txn: "t1")
            #expect(first.json["event_id"] == again.json["event_id"])
            let other = try await server.send(alice.token, roomID, "hi", txn: "t2")
            #expect(other.json["event_id"] != first.json["event_id"])
            #expect(server.bodies(try await server.messages(alice.token, roomID)) == ["hi", "hi"])
            let event = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(first.json["event_id"]!.stringValue!))"), token: alice.token)
            #expect(event.json["unsigned"]?["transaction_id"] == "t1")
        }
    }

    @Test func authRulesRejectWithReadableReasons() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            let outsider = try await server.send(bob.token, roomID, "let me in")
            #expect(outsider.status == 403)
            #expect(outsider.errcode == "M_FORBIDDEN")
            #expect(outsider.json["error"]?.stringValue?.contains("not in the room") == true)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let name = try await server.call(.put, server.room(roomID, "/state/m.room.name/"), token: bob.token, json: ["name": "mine"])
            #expect(name.status == 403)
            #expect(name.json["error"]?.stringValue?.contains("power level") == true)
            let unknown = try await server.send(alice.token, "!nowhere:localhost", "x")
            #expect(unknown.status == 403)
            #expect(try await server.send(alice.token, "not-a-room", "x").errcode == "M_INVALID_PARAM")
            let float = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/f1"), token: alice.token, json: ["body": "x", "n": .double(1.5)])
            #expect(float.errcode == "M_BAD_JSON")
        }
    }

    @Test func stateWithEmptyAndSlashedKeys() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let put = try await server.call(
                .put, server.room(roomID, "/state/org.example.thing/a%2Fb%3Ac"), token: alice.token, json: ["v": 1])
            #expect(put.status == 200)
            #expect(try await server.call(.get, server.room(roomID, "/state/org.example.thing/a%2Fb%3Ac"), token: alice.token).json == ["v": 1])
            let asEvent = try await server.call(.get, server.room(roomID, "/state/org.example.thing/a%2Fb%3Ac?format=event"), token: alice.token)
            #expect(asEvent.json["state_key"] == "a/b:c")
            #expect(try await server.call(.get, server.room(roomID, "/state/org.example.none/x"), token: alice.token).status == 404)
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.topic"), token: alice.token, json: ["topic": "one"])
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.topic/"), token: alice.token, json: ["topic": "two"])
            let topic = try await server.call(.get, server.room(roomID, "/state/m.room.topic?format=event"), token: alice.token)
            #expect(topic.json["content"]?["topic"] == "two")
            #expect(topic.json["unsigned"]?["prev_content"]?["topic"] == "one")
        }
    }

    @Test func redaction() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let bobs = try await server.send(bob.token, roomID, "oops").json["event_id"]!.stringValue!
            let alices = try await server.send(alice.token, roomID, "mine").json["event_id"]!.stringValue!
            // Bob may not redact Alice's message: the redaction is stored, the message untouched.
            _ = try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(alices))/r1"), token: bob.token, json: [:])
            let untouched = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(alices))"), token: alice.token)
            #expect(untouched.json["content"]?["body"] == "mine")
            let redaction = try await server.call(
                .put, server.room(roomID, "/redact/\(TestServer.path(bobs))/r2"), token: bob.token, json: ["reason": "typo"])
            #expect(redaction.status == 200)
            let redacted = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(bobs))"), token: alice.token)
            #expect(redacted.json["content"] == [:])
            #expect(redacted.json["unsigned"]?["redacted_because"]?["content"]?["reason"] == "typo")
            let event = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(redaction.json["event_id"]!.stringValue!))"), token: alice.token)
            #expect(event.json["redacts"] == .string(bobs))
            #expect(event.json["content"]?["redacts"] == .string(bobs))
            // Moderators may redact anyone.
            _ = try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(alices))/r3"), token: alice.token, json: [:])
            #expect(try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(alices))"), token: alice.token).json["content"] == [:])
        }
    }

    @Test func paginationBothWaysWithTokensAndFilters() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for i in 1...25 { try await server.send(alice.token, roomID, "m\(i)") }
            let filter = TestServer.path(#"{"types":["m.room.message"]}"#)
            var backwards: [String] = []
            var from: String?
            for _ in 0..<10 {
                let query = "dir=b&limit=10&filter=\(filter)" + (from.map { "&from=\(TestServer.path($0))" } ?? "")
                let page = try await server.messages(alice.token, roomID, query: query)
                #expect(page.status == 200)
                backwards += server.bodies(page)
                guard let end = page.json["end"]?.stringValue else { break }
                from = end
            }
            #expect(backwards == (1...25).reversed().map { "m\($0)" })
            let forward = try await server.messages(alice.token, roomID, query: "dir=f&limit=100&filter=\(filter)")
            #expect(server.bodies(forward) == (1...25).map { "m\($0)" })
            #expect(forward.json["end"] == nil)
            #expect(try await server.messages(alice.token, roomID, query: "limit=5").errcode == "M_MISSING_PARAM")
            #expect(try await server.messages(alice.token, roomID, query: "dir=x").errcode == "M_INVALID_PARAM")
            #expect(try await server.messages(alice.token, roomID, query: "dir=b&from=garbage").errcode == "M_INVALID_PARAM")
        }
    }

    @Test func contextAroundAnEvent() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            var ids: [String] = []
            for i in 1...9 { ids.append(try await server.send(alice.token, roomID, "c\(i)").json["event_id"]!.stringValue!) }
            let context = try await server.call(.get, server.room(roomID, "/context/\(TestServer.path(ids[4]))?limit=4"), token: alice.token)
            #expect(context.json["event"]?["content"]?["body"] == "c5")
            #expect(context.json["events_before"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } == ["c4", "c3"])
            #expect(context.json["events_after"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } == ["c6", "c7"])
            #expect(context.json["state"]?.arrayValue?.isEmpty == false)
            #expect(try await server.call(.get, server.room(roomID, "/context/%24nope"), token: alice.token).status == 404)
        }
    }

    @Test func timestampToEvent() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let id = try await server.send(alice.token, roomID, "x").json["event_id"]!.stringValue!
            let path = "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/timestamp_to_event"
            let now = Int64(Date().timeIntervalSince1970 * 1000) + 1000
            #expect(try await server.call(.get, path + "?ts=\(now)&dir=b", token: alice.token).json["event_id"] == .string(id))
            #expect(try await server.call(.get, path + "?ts=\(now)&dir=f", token: alice.token).status == 404)
            #expect(try await server.call(.get, path + "?dir=f", token: alice.token).errcode == "M_MISSING_PARAM")
        }
    }
}

@Suite struct RoomIdentityTests {
    /// v12 room IDs hash the create event: identical requests at the same moment must still
    /// get distinct rooms.
    @Test func identicalConcurrentCreationsGetDistinctRooms() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<24 { group.addTask { try await server.createRoom(alice.token, ["preset": "private_chat"]) } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(ids).count == 24)
        }
    }
}

@Suite struct EventLimitTests {
    @Test func sizeLimitsAndNULs() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let big = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/big"), token: alice.token,
                json: ["msgtype": "m.text", "body": .string(String(repeating: "x", count: 70_000))])
            #expect(big.status == 413)
            #expect(big.errcode == "M_TOO_LARGE")
            let longType = String(repeating: "t", count: 256)
            #expect(try await server.call(.put, server.room(roomID, "/send/\(longType)/t1"), token: alice.token, json: [:]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.put, server.room(roomID, "/state/org.example/\(longType)"), token: alice.token, json: [:]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.put, server.room(roomID, "/send/a%00b/t2"), token: alice.token, json: [:]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.put, "/_matrix/client/v3/user/@alice:localhost/account_data/a%00b", token: alice.token, json: [:]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms?since=%00", token: alice.token).errcode == "M_INVALID_PARAM")
            let nulState = try await server.call(
                .post, "/_matrix/client/v3/createRoom", token: alice.token,
                json: ["initial_state": [["type": "a\u{0}b", "content": [:]]]])
            #expect(nulState.status == 400)
            // Text in a body goes to a column: PostgreSQL cannot store NUL and answers 400;
            // SQLite keeps it. Neither may answer 500.
            let device = try await server.login("alice", device: "D\u{0}X")
            #expect(device.status == 200 || device.errcode == "M_INVALID_PARAM")
        }
    }
}
