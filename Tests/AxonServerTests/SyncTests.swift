import Foundation
import Hummingbird
import MatrixModel
import Testing

extension TestServer {
    func sync(_ token: String, _ query: String = "") async throws -> Reply {
        try await call(.get, "/_matrix/client/v3/sync" + (query.isEmpty ? "" : "?\(query)"), token: token)
    }

    func timelineBodies(_ sync: Reply, _ roomID: String, section: String = "join") -> [String] {
        sync.json["rooms"]?[section]?[roomID]?["timeline"]?["events"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
    }
}

@Suite struct SyncTests {
    /// An initial (or full-state) sync reads every joined room's timeline, receipts, typing and
    /// unread counts in one batch: each room must get its own, and the same as alone.
    @Test func aBatchedInitialSyncGivesEachRoomItsOwnParts() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            var rooms: [String] = []
            for _ in 0..<3 {
                let roomID = try await server.createRoom(alice.token)
                _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
                rooms.append(roomID)
            }
            try await server.send(alice.token, rooms[0], "a1")
            try await server.send(alice.token, rooms[0], "a2")
            let read = try #require(try await server.send(alice.token, rooms[1], "b1").json["event_id"]?.stringValue)
            _ = try await server.call(.post, server.room(rooms[1], "/receipt/m.read/\(TestServer.path(read))"), token: bob.token, json: [:])
            _ = try await server.call(
                .put, server.room(rooms[2], "/typing/@alice:localhost"), token: alice.token, json: ["typing": true, "timeout": 20000])
            for query in ["", "full_state=true&since=" + (try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue))] {
                let sync = try await server.sync(bob.token, query)
                func room(_ index: Int) -> JSON? { sync.json["rooms"]?["join"]?[rooms[index]] }
                func ephemeralTypes(_ index: Int) -> [String] {
                    room(index)?["ephemeral"]?["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue }.sorted() ?? []
                }
                #expect(Array(server.timelineBodies(sync, rooms[0]).suffix(2)) == ["a1", "a2"])
                #expect(server.timelineBodies(sync, rooms[1]).last == "b1")
                #expect(!server.timelineBodies(sync, rooms[2]).contains { ["a1", "a2", "b1"].contains($0) })
                #expect(room(0)?["unread_notifications"]?["notification_count"] == 2)
                #expect(room(1)?["unread_notifications"]?["notification_count"] == 0)
                #expect(room(2)?["unread_notifications"]?["notification_count"] == 0)
                #expect(ephemeralTypes(0) == [])
                #expect(ephemeralTypes(1) == ["m.receipt"])
                #expect(ephemeralTypes(2) == ["m.typing"])
            }
        }
    }

    @Test func initialThenIncremental() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "R"])
            for i in 1...12 { try await server.send(alice.token, roomID, "m\(i)") }
            let initial = try await server.sync(alice.token)
            let room = try #require(initial.json["rooms"]?["join"]?[roomID])
            #expect(server.timelineBodies(initial, roomID) == (3...12).map { "m\($0)" })
            #expect(room["timeline"]?["limited"] == true)
            let stateTypes = Set(room["state"]?["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? [])
            #expect(stateTypes.isSuperset(of: ["m.room.create", "m.room.name", "m.room.member", "m.room.power_levels"]))
            #expect(room["summary"]?["m.joined_member_count"] == 1)
            // prev_batch continues backwards with /messages.
            let prev = try #require(room["timeline"]?["prev_batch"]?.stringValue)
            let older = try await server.messages(alice.token, roomID, query: "dir=b&limit=2&from=\(TestServer.path(prev))")
            #expect(server.bodies(older) == ["m2", "m1"])

            let since = try #require(initial.json["next_batch"]?.stringValue)
            let quiet = try await server.sync(alice.token, "since=\(since)")
            #expect(quiet.json["rooms"] == nil)
            try await server.send(alice.token, roomID, "new")
            let incremental = try await server.sync(alice.token, "since=\(since)")
            #expect(server.timelineBodies(incremental, roomID) == ["new"])
            #expect(incremental.json["rooms"]?["join"]?[roomID]?["timeline"]?["limited"] == false)
            #expect(incremental.json["rooms"]?["join"]?[roomID]?["state"]?["events"] == [])
            #expect(try await server.sync(alice.token, "since=garbage").errcode == "M_INVALID_PARAM")
        }
    }

    @Test func longPollWakesOnAMessageFromSomeoneElse() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            let started = ContinuousClock.now
            // A long timeout, so that returning well before it proves the message woke the poll
            // (a loaded machine may take seconds to deliver it, never near a minute).
            async let waiting = server.sync(bob.token, "since=\(since)&timeout=60000")
            try await Task.sleep(for: .milliseconds(200))
            try await server.send(alice.token, roomID, "ping")
            let woke = try await waiting
            #expect(server.timelineBodies(woke, roomID) == ["ping"])
            #expect(ContinuousClock.now - started < .seconds(45))
            let timedOut = try await server.sync(bob.token, "since=\(woke.json["next_batch"]!.stringValue!)&timeout=300")
            #expect(timedOut.json["rooms"] == nil)
            #expect(timedOut.json["next_batch"] != nil)
        }
    }

    @Test func invitesAreStrippedAndLeavesNeedIncludeLeave() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat", "name": "Secret", "invite": ["@bob:localhost"]])
            let invited = try await server.sync(bob.token)
            let inviteState = invited.json["rooms"]?["invite"]?[roomID]?["invite_state"]?["events"]?.arrayValue ?? []
            #expect(inviteState.contains { $0["type"] == "m.room.name" && $0["content"]?["name"] == "Secret" })
            #expect(inviteState.contains { $0["type"] == "m.room.member" && $0["state_key"] == "@bob:localhost" })
            #expect(inviteState.allSatisfy { $0["event_id"] == nil })
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "hello bob")
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "after bob left")
            // An incremental sync reports the newly left room with the timeline up to the leave.
            let left = try await server.sync(bob.token, "since=\(since)")
            let leaveTimeline = left.json["rooms"]?["leave"]?[roomID]?["timeline"]?["events"]?.arrayValue ?? []
            #expect(leaveTimeline.last?["content"]?["membership"] == "leave")
            #expect(!server.timelineBodies(left, roomID, section: "leave").contains("after bob left"))
            // Initial syncs show left rooms only with include_leave.
            #expect(try await server.sync(bob.token).json["rooms"]?["leave"] == nil)
            let filter = TestServer.path(#"{"room":{"include_leave":true}}"#)
            let withLeave = try await server.sync(bob.token, "filter=\(filter)")
            #expect(server.timelineBodies(withLeave, roomID, section: "leave") == ["hello bob"])
            // After forgetting, not even include_leave shows it.
            _ = try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:])
            #expect(try await server.sync(bob.token, "filter=\(filter)").json["rooms"]?["leave"]?[roomID] == nil)
        }
    }

    @Test func storedAndInlineFiltersWithLazyLoading() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.token)
            for user in [bob, carol] { _ = try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
            for i in 1...5 { try await server.send(bob.token, roomID, "b\(i)") }
            let created = try await server.call(
                .post, "/_matrix/client/v3/user/@alice:localhost/filter", token: alice.token,
                json: ["room": ["timeline": ["limit": 2], "state": ["lazy_load_members": true]], "event_fields": ["type", "content.body", "sender", "state_key"]])
            let filterID = try #require(created.json["filter_id"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/user/@alice:localhost/filter/\(filterID)", token: alice.token).json["room"]?["timeline"]?["limit"] == 2)
            #expect(try await server.call(.get, "/_matrix/client/v3/user/@alice:localhost/filter/999", token: alice.token).status == 404)
            #expect(try await server.call(.post, "/_matrix/client/v3/user/@bob:localhost/filter", token: alice.token, json: [:]).status == 403)
            #expect(try await server.call(.post, "/_matrix/client/v3/user/@alice:localhost/filter", token: alice.token, json: ["room": ["timeline": ["limit": "x"]]]).errcode == "M_BAD_JSON")
            let synced = try await server.sync(alice.token, "filter=\(filterID)")
            let room = try #require(synced.json["rooms"]?["join"]?[roomID])
            #expect(server.timelineBodies(synced, roomID) == ["b4", "b5"])
            #expect(room["timeline"]?["events"]?.arrayValue?.first == ["type": "m.room.message", "content": ["body": "b4"], "sender": "@bob:localhost"])
            let members = Set(room["state"]?["events"]?.arrayValue?.compactMap { $0["type"] == "m.room.member" ? $0["state_key"]?.stringValue : nil } ?? [])
            #expect(members == ["@bob:localhost", "@alice:localhost"])
            let inline = TestServer.path(#"{"room":{"rooms":[]}}"#)
            #expect(try await server.sync(alice.token, "filter=\(inline)").json["rooms"] == nil)
            #expect(try await server.sync(alice.token, "filter=%7Bbroken").errcode == "M_INVALID_PARAM")
        }
    }

    /// A timeline reads one event past its limit first; when the filter hides those, it
    /// reads further back rather than coming back short.
    @Test func hiddenEventsDoNotShortenTheTimeline() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for i in 1...3 { try await server.send(alice.token, roomID, "m\(i)") }
            for i in 1...5 {
                let topic = server.room(roomID, "/state/m.room.topic")
                #expect(try await server.call(.put, topic, token: alice.token, json: ["topic": .string("t\(i)")]).status == 200)
            }
            let filter = TestServer.path(#"{"room":{"timeline":{"limit":2,"types":["m.room.message"]}}}"#)
            let synced = try await server.sync(alice.token, "filter=\(filter)")
            #expect(server.timelineBodies(synced, roomID) == ["m2", "m3"])
            #expect(synced.json["rooms"]?["join"]?[roomID]?["timeline"]?["limited"] == true)
        }
    }

    @Test func accountDataReceiptsAndTagsArriveIncrementally() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let eventID = try await server.send(alice.token, roomID, "read me").json["event_id"]!.stringValue!
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            _ = try await server.call(.put, "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.global", token: alice.token, json: ["a": 1])
            _ = try await server.call(.put, "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/tags/u.work", token: alice.token, json: ["order": 0.5])
            _ = try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(eventID))"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/receipt/m.read.private/\(TestServer.path(eventID))"), token: bob.token, json: [:])
            let synced = try await server.sync(alice.token, "since=\(since)")
            #expect(synced.json["account_data"]?["events"] == [["type": "org.example.global", "content": ["a": 1]]])
            let room = try #require(synced.json["rooms"]?["join"]?[roomID])
            #expect(room["account_data"]?["events"] == [["type": "m.tag", "content": ["tags": ["u.work": ["order": 0.5]]]]])
            let receipt = room["ephemeral"]?["events"]?.arrayValue?.first
            #expect(receipt?["type"] == "m.receipt")
            #expect(receipt?["content"]?[eventID]?["m.read"]?["@bob:localhost"]?["ts"]?.intValue != nil)
            #expect(receipt?["content"]?[eventID]?["m.read.private"] == nil)
            let bobs = try await server.sync(bob.token)
            let own = bobs.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?.arrayValue?.first
            #expect(own?["content"]?[eventID]?["m.read.private"]?["@bob:localhost"] != nil)
        }
    }
}

/// The seed `account-data.yaml`, every documented error.
@Suite struct AccountDataTests {
    @Test func globalAndRoomAccountData() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let base = "/_matrix/client/v3/user/@alice:localhost"
            #expect(try await server.call(.put, base + "/account_data/org.example.cfg", token: alice.token, json: ["x": 1]).status == 200)
            #expect(try await server.call(.get, base + "/account_data/org.example.cfg", token: alice.token).json == ["x": 1])
            #expect(try await server.call(.put, base + "/account_data/org.example.cfg", token: alice.token, json: ["x": 2]).status == 200)
            #expect(try await server.call(.get, base + "/account_data/org.example.cfg", token: alice.token).json == ["x": 2])
            let room = "/rooms/%21abc%3Alocalhost/account_data/org.example.room"
            #expect(try await server.call(.put, base + room, token: alice.token, json: ["y": true]).status == 200)
            #expect(try await server.call(.get, base + room, token: alice.token).json == ["y": true])
            let missing = try await server.call(.get, base + "/account_data/org.example.none", token: alice.token)
            #expect(missing.status == 404)
            #expect(missing.errcode == "M_NOT_FOUND")
            #expect(try await server.call(.get, base + "/rooms/%21abc%3Alocalhost/account_data/org.example.none", token: alice.token).errcode == "M_NOT_FOUND")
        }
    }

    @Test func everyDocumentedError() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            _ = try await server.register("bob")
            let mine = "/_matrix/client/v3/user/@alice:localhost"
            let notJSON = try await server.call(.put, mine + "/account_data/t", token: alice.token, body: "{oops")
            #expect(notJSON.status == 400)
            #expect(notJSON.errcode == "M_NOT_JSON")
            let notObject = try await server.call(.put, mine + "/account_data/t", token: alice.token, body: "[1]")
            #expect(notObject.status == 400)
            #expect(notObject.errcode == "M_BAD_JSON")
            #expect(try await server.call(.put, mine + "/rooms/%21r%3Alocalhost/account_data/t", token: alice.token, body: "\"s\"").errcode == "M_BAD_JSON")
            let others = "/_matrix/client/v3/user/@bob:localhost"
            for (method, path) in [(HTTPRequest.Method.put, "/account_data/t"), (.get, "/account_data/t"), (.put, "/rooms/%21r%3Alocalhost/account_data/t"), (.get, "/rooms/%21r%3Alocalhost/account_data/t")] {
                let reply = try await server.call(method, others + path, token: alice.token, json: method == .put ? ["a": 1] : nil)
                #expect(reply.status == 403, "\(method) \(path)")
                #expect(reply.errcode == "M_FORBIDDEN")
            }
            let fullyRead = try await server.call(.put, mine + "/rooms/%21r%3Alocalhost/account_data/m.fully_read", token: alice.token, json: ["event_id": "$x"])
            #expect(fullyRead.status == 405)
            #expect(fullyRead.errcode == "M_BAD_JSON")
            let pushRules = try await server.call(.put, mine + "/account_data/m.push_rules", token: alice.token, json: [:])
            #expect(pushRules.status == 405)
            #expect(pushRules.errcode == "M_BAD_JSON")
            for method in [HTTPRequest.Method.put, .get] {
                let invalidRoom = try await server.call(method, mine + "/rooms/%40notaroom%3Alocalhost/account_data/t", token: alice.token, json: method == .put ? [:] : nil)
                #expect(invalidRoom.status == 400)
                #expect(invalidRoom.errcode == "M_INVALID_PARAM")
            }
        }
    }

    @Test func tagsAndReadMarkers() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let tags = "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/tags"
            #expect(try await server.call(.put, tags + "/m.favourite", token: alice.token, json: ["order": 0.25]).status == 200)
            #expect(try await server.call(.put, tags + "/u.x", token: alice.token, json: [:]).status == 200)
            #expect(try await server.call(.put, tags + "/u.y", token: alice.token, json: ["order": 7]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.get, tags, token: alice.token).json == ["tags": ["m.favourite": ["order": 0.25], "u.x": [:]]])
            let asAccountData = "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/account_data/m.tag"
            #expect(try await server.call(.get, asAccountData, token: alice.token).json["tags"]?["u.x"] == [:])
            #expect(try await server.call(.delete, tags + "/u.x", token: alice.token).status == 200)
            #expect(try await server.call(.get, tags, token: alice.token).json == ["tags": ["m.favourite": ["order": 0.25]]])

            let eventID = try await server.send(alice.token, roomID, "x").json["event_id"]!.stringValue!
            let markers = try await server.call(
                .post, server.room(roomID, "/read_markers"), token: alice.token,
                json: ["m.fully_read": .string(eventID), "m.read": .string(eventID)])
            #expect(markers.status == 200)
            let fullyRead = "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/account_data/m.fully_read"
            #expect(try await server.call(.get, fullyRead, token: alice.token).json == ["event_id": .string(eventID)])
            #expect(try await server.call(.post, server.room(roomID, "/read_markers"), token: alice.token, json: ["m.fully_read": "$missing"]).status == 404)
        }
    }
}

/// The seed `old_sync.yaml`.
@Suite struct LegacySyncTests {
    @Test func eventsStreamWakesAndTimesOut() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let start = try await server.call(.get, "/_matrix/client/v3/events?timeout=0", token: bob.token)
            #expect(start.json["chunk"] == [])
            let from = try #require(start.json["end"]?.stringValue)
            async let waiting = server.call(.get, "/_matrix/client/v3/events?from=\(from)&timeout=20000", token: bob.token)
            try await Task.sleep(for: .milliseconds(200))
            try await server.send(alice.token, roomID, "streamed")
            let woke = try await waiting
            #expect(woke.json["start"] == .string(from))
            #expect(woke.json["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } == ["streamed"])
            let end = try #require(woke.json["end"]?.stringValue)
            let empty = try await server.call(.get, "/_matrix/client/v3/events?from=\(end)&timeout=200", token: bob.token)
            #expect(empty.status == 200)
            #expect(empty.json["chunk"] == [])
            let bad = try await server.call(.get, "/_matrix/client/v3/events?from=nonsense", token: bob.token)
            #expect(bad.status == 400)
        }
    }

    @Test func initialSyncWithAndWithoutArchived() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let kept = try await server.createRoom(alice.token, ["preset": "public_chat", "visibility": "public"])
            let left = try await server.createRoom(alice.token)
            for roomID in [kept, left] { _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]) }
            try await server.send(alice.token, left, "before leaving")
            _ = try await server.call(.post, server.room(left, "/leave"), token: bob.token, json: [:])
            try await server.send(alice.token, left, "after leaving")
            _ = try await server.call(.put, "/_matrix/client/v3/user/@bob:localhost/account_data/org.example", token: bob.token, json: ["z": 1])
            let current = try await server.call(.get, "/_matrix/client/v3/initialSync?limit=5", token: bob.token)
            #expect(current.json["end"]?.stringValue != nil)
            #expect(current.json["presence"] == [])
            #expect(current.json["account_data"] == [["type": "org.example", "content": ["z": 1]]])
            let roomIDs = current.json["rooms"]?.arrayValue?.compactMap { $0["room_id"]?.stringValue }
            #expect(roomIDs == [kept])
            let room = try #require(current.json["rooms"]?.arrayValue?.first)
            #expect(room["membership"] == "join")
            #expect(room["visibility"] == "public")
            #expect(room["messages"]?["chunk"]?.arrayValue?.count == 5)
            #expect(room["messages"]?["end"] != nil)
            let archived = try await server.call(.get, "/_matrix/client/v3/initialSync?archived=true", token: bob.token)
            let archivedRoom = try #require(archived.json["rooms"]?.arrayValue?.first { $0["room_id"] == .string(left) })
            #expect(archivedRoom["membership"] == "leave")
            let bodies = archivedRoom["messages"]?["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
            #expect(bodies.contains("before leaving") && !bodies.contains("after leaving"))
            _ = try await server.call(.post, server.room(left, "/forget"), token: bob.token, json: [:])
            let forgotten = try await server.call(.get, "/_matrix/client/v3/initialSync?archived=true", token: bob.token)
            #expect(forgotten.json["rooms"]?.arrayValue?.contains { $0["room_id"] == .string(left) } == false)
        }
    }

    @Test func singleEventsByIDAndRoomInitialSync() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat"])
            let eventID = try await server.send(alice.token, roomID, "private").json["event_id"]!.stringValue!
            let allowed = try await server.call(.get, "/_matrix/client/v3/events/\(TestServer.path(eventID))", token: alice.token)
            #expect(allowed.json["content"]?["body"] == "private")
            let denied = try await server.call(.get, "/_matrix/client/v3/events/\(TestServer.path(eventID))", token: bob.token)
            #expect(denied.status == 404)
            #expect(denied.errcode == "M_NOT_FOUND")
            #expect(try await server.call(.get, "/_matrix/client/v3/events/%24nope", token: alice.token).status == 404)
            let roomSync = try await server.call(.get, server.room(roomID, "/initialSync"), token: alice.token)
            #expect(roomSync.json["room_id"] == .string(roomID))
            #expect(roomSync.json["membership"] == "join")
            #expect(roomSync.json["messages"]?["chunk"]?.arrayValue?.last?["content"]?["body"] == "private")
            #expect(try await server.call(.get, server.room(roomID, "/initialSync"), token: bob.token).status == 403)
        }
    }
}
