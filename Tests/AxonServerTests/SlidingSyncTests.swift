import Foundation
import MatrixModel
import Testing

@testable import AxonServer

extension TestServer {
    static let unstableSlidingSync = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

    /// The shape Element X sends: `pos` and `timeout` in the query.
    func slidingSync(_ token: String, _ body: JSON, pos: String? = nil, timeout: Int? = nil) async throws -> Reply {
        var query: [String] = []
        if let pos { query.append("pos=\(pos)") }
        if let timeout { query.append("timeout=\(timeout)") }
        return try await call(.post, Self.unstableSlidingSync + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), token: token, json: body)
    }

    /// The merged MSC4186 shape: everything in the body.
    func slidingSyncV4(_ token: String, _ body: JSON, pos: String? = nil) async throws -> Reply {
        var body = body
        if let pos { body["pos"] = .string(pos) }
        return try await call(.post, "/_matrix/client/v4/sync", token: token, json: body)
    }
}

extension TestServer.Reply {
    var pos: String? { json["pos"]?.stringValue }
    var roomIDs: Set<String> { Set(json["rooms"]?.objectValue?.map(\.key) ?? []) }
    func window(_ list: String, _ index: Int = 0) -> [String] {
        json["lists"]?[list]?["ops"]?.arrayValue?[index]["room_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
    func room(_ roomID: String) -> JSON? { json["rooms"]?[roomID] }
    func timelineBodies(_ roomID: String) -> [String] {
        room(roomID)?["timeline"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
    }
    func stateKeys(_ roomID: String) -> Set<String> {
        Set(room(roomID)?["required_state"]?.arrayValue?.map { "\($0["type"]?.stringValue ?? "")|\($0["state_key"]?.stringValue ?? "")" } ?? [])
    }
}

/// A list over every room, as Element X's room list starts.
func allRoomsList(range: [Int] = [0, 19], limit: Int = 1, requiredState: JSON = [["m.room.name", ""]], filters: JSON = [:]) -> JSON {
    [
        "lists": [
            "all_rooms": [
                "ranges": [.array(range.map { .int(Int64($0)) })], "timeline_limit": .int(Int64(limit)), "required_state": requiredState,
                "filters": filters,
            ]
        ]
    ]
}

@Suite struct SlidingSyncTests {
    @Test func versionsAdvertiseTheUnstableFlag() async throws {
        try await TestServer.run { server in
            let versions = try await server.call(.get, "/_matrix/client/versions")
            #expect(versions.json["unstable_features"]?["org.matrix.simplified_msc3575"] == true)
        }
    }

    @Test func listsAreOrderedByActivityAndCutByRanges() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            var rooms: [String] = []
            for index in 0..<5 { rooms.append(try await server.createRoom(alice.token, ["name": .string("room \(index)")])) }
            // Oldest activity first: room 2, then 0, 4, 1, 3 become the newest.
            for roomID in [rooms[2], rooms[0], rooms[4], rooms[1], rooms[3]] { try await server.send(alice.token, roomID, "hi") }
            let body: JSON = ["lists": ["all": ["ranges": [[0, 1], [3, 4]], "timeline_limit": 1, "required_state": []]]]
            let first = try await server.slidingSync(alice.token, body)
            #expect(first.status == 200, "\(first.raw)")
            #expect(first.json["lists"]?["all"]?["count"] == 5)
            #expect(first.window("all", 0) == [rooms[3], rooms[1]])
            #expect(first.window("all", 1) == [rooms[0], rooms[2]])
            #expect(first.json["lists"]?["all"]?["ops"]?[0]?["op"] == "SYNC")
            #expect(first.roomIDs == [rooms[3], rooms[1], rooms[0], rooms[2]])
            // A topic change is no bump; a message is.
            _ = try await server.call(
                .put, server.room(rooms[2], "/state/m.room.topic/"), token: alice.token, json: ["topic": "quiet"])
            try await server.send(alice.token, rooms[0], "bump")
            let next = try await server.slidingSync(alice.token, body, pos: first.pos)
            #expect(next.window("all", 0) == [rooms[0], rooms[3]])
            #expect(next.window("all", 1) == [rooms[4], rooms[2]])
            let stamps = [rooms[0], rooms[3]].map { next.room($0)?["bump_stamp"]?.intValue ?? first.room($0)?["bump_stamp"]?.intValue ?? 0 }
            #expect(stamps[0] > stamps[1])
            // A range past the end is empty; a list without ranges is the whole list.
            let whole = try await server.slidingSync(
                alice.token, ["lists": ["a": ["ranges": [[10, 20]], "timeline_limit": 0], "b": ["timeline_limit": 0]]])
            #expect(whole.window("a") == [])
            #expect(whole.window("b").count == 5)
        }
    }

    @Test func invitesKicksAndRoomsLeftThemselves() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let invited = try await server.createRoom(alice.token, ["name": "secret", "invite": ["@bob:localhost"], "preset": "private_chat"])
            let left = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(left, "/join"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(left, "/leave"), token: bob.token, json: [:])
            let reply = try await server.slidingSync(bob.token, allRoomsList())
            #expect(Set(reply.window("all_rooms")) == [roomID, invited])
            let invite = try #require(reply.room(invited))
            #expect(invite["initial"] == true)
            #expect(invite["timeline"] == nil)
            let strippedTypes = invite["invite_state"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
            #expect(strippedTypes.contains("m.room.name") && strippedTypes.contains("m.room.member"))
            let v4 = try await server.slidingSyncV4(
                bob.token, ["conn_id": "v4", "lists": ["all": ["range": [0, 9], "timeline_limit": 1, "required_state": [:]]]])
            #expect(v4.room(invited)?["stripped_state"]?.arrayValue?.isEmpty == false)
            #expect(v4.room(invited)?["membership"] == "invite")
            #expect(v4.room(roomID)?["membership"] == "join")
            #expect(v4.room(roomID)?["lists"] == ["all"])
            // A kick keeps the room in the list, with the kick as the last thing the user sees.
            _ = try await server.call(.post, server.room(roomID, "/kick"), token: alice.token, json: ["user_id": "@bob:localhost"])
            try await server.send(alice.token, roomID, "after the kick")
            let kicked = try await server.slidingSync(bob.token, allRoomsList(limit: 5), pos: reply.pos)
            #expect(kicked.status == 200, "\(kicked.raw)")
            #expect(kicked.window("all_rooms").contains(roomID))
            let events = kicked.room(roomID)?["timeline"]?.arrayValue ?? []
            #expect(events.last?["content"]?["membership"] == "leave")
            #expect(!kicked.timelineBodies(roomID).contains("after the kick"))
            // Forgotten, the room leaves the list (the cached copy notices).
            _ = try await server.call(.post, server.room(roomID, "/forget"), token: bob.token, json: [:])
            let forgotten = try await server.slidingSync(bob.token, allRoomsList(), pos: kicked.pos)
            #expect(!forgotten.window("all_rooms").contains(roomID))
            #expect(forgotten.json["lists"]?["all_rooms"]?["count"] == 1)
        }
    }

    @Test func eachFilter() async throws {
        try await TestServer.run { server in
            let (alice, bob, shared) = try await server.aliceAndBobInARoom()
            let dm = try await server.createRoom(bob.token, ["is_direct": true, "invite": ["@alice:localhost"], "preset": "trusted_private_chat"])
            _ = try await server.call(.post, server.room(dm, "/join"), token: alice.token, json: [:])
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/@bob:localhost/account_data/m.direct", token: bob.token, json: ["@alice:localhost": [.string(dm)]])
            let encrypted = try await server.createRoom(
                bob.token,
                ["name": "Cipher Room", "initial_state": [["type": "m.room.encryption", "state_key": "", "content": ["algorithm": "m.megolm.v1.aes-sha2"]]]])
            let space = try await server.createRoom(bob.token, ["name": "Space", "creation_content": ["type": "m.space"]])
            _ = try await server.call(
                .put, server.room(space, "/state/m.space.child/\(TestServer.path(shared))"), token: bob.token, json: ["via": ["localhost"]])
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/@bob:localhost/rooms/\(TestServer.path(encrypted))/tags/m.favourite", token: bob.token, json: [:])
            let invite = try await server.createRoom(alice.token, ["invite": ["@bob:localhost"]])

            func matching(_ filters: JSON) async throws -> Set<String> {
                let reply = try await server.slidingSync(bob.token, allRoomsList(limit: 0, filters: filters))
                #expect(reply.status == 200, "\(reply.raw)")
                return Set(reply.window("all_rooms"))
            }
            let all: Set<String> = [shared, dm, encrypted, space, invite]
            #expect(try await matching([:]) == all)
            #expect(try await matching(["is_dm": true]) == [dm])
            #expect(try await matching(["is_dm": false]) == all.subtracting([dm]))
            #expect(try await matching(["is_encrypted": true]) == [encrypted])
            #expect(try await matching(["is_invite": true]) == [invite])
            #expect(try await matching(["is_invite": false]) == all.subtracting([invite]))
            #expect(try await matching(["room_types": ["m.space"]]) == [space])
            #expect(try await matching(["not_room_types": ["m.space"]]) == all.subtracting([space]))
            #expect(try await matching(["room_types": [.null]]) == all.subtracting([space]))
            #expect(try await matching(["spaces": [.string(space)]]) == [shared])
            #expect(try await matching(["room_name_like": "cipher"]) == [encrypted])
            #expect(try await matching(["tags": ["m.favourite"]]) == [encrypted])
            #expect(try await matching(["not_tags": ["m.favourite"]]) == all.subtracting([encrypted]))
            // v4 names the invite filter `is_invited`.
            let v4 = try await server.slidingSyncV4(
                bob.token, ["lists": ["l": ["range": [0, 9], "timeline_limit": 0, "required_state": [:], "filters": ["is_invited": true]]]])
            #expect(v4.json["lists"]?["l"]?["count"] == 1)
            #expect(v4.roomIDs == [invite])
        }
    }

    @Test func requiredStateWildcardsLazyAndMe() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let carol = try await server.register("carol")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:])
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.topic/"), token: alice.token, json: ["topic": "t"])
            try await server.send(bob.token, roomID, "from bob")
            func keys(_ requiredState: JSON, limit: Int = 1) async throws -> Set<String> {
                let reply = try await server.slidingSync(carol.token, ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": .int(Int64(limit)), "required_state": requiredState]]])
                #expect(reply.status == 200, "\(reply.raw)")
                return reply.stateKeys(roomID)
            }
            #expect(try await keys([["m.room.topic", ""]]) == ["m.room.topic|"])
            let everything = try await keys([["*", "*"]])
            #expect(everything.contains("m.room.create|") && everything.contains("m.room.member|@alice:localhost"))
            #expect(try await keys([["m.room.member", "*"]]) == ["m.room.member|@alice:localhost", "m.room.member|@bob:localhost", "m.room.member|@carol:localhost"])
            #expect(try await keys([["*", ""]]).allSatisfy { $0.hasSuffix("|") })
            #expect(try await keys([["m.room.member", "$ME"]]) == ["m.room.member|@carol:localhost"])
            // $LAZY: only the senders the timeline shows.
            #expect(try await keys([["m.room.member", "$LAZY"]]) == ["m.room.member|@bob:localhost"])
            #expect(try await keys([["m.room.member", "$LAZY"], ["m.room.member", "$ME"]]) == ["m.room.member|@bob:localhost", "m.room.member|@carol:localhost"])

            // The merged shape: include, exclude, lazy_members.
            func v4Keys(_ requiredState: JSON) async throws -> Set<String> {
                let reply = try await server.slidingSyncV4(carol.token, ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 1, "required_state": requiredState]]])
                #expect(reply.status == 200, "\(reply.raw)")
                return reply.stateKeys(roomID)
            }
            let allButMembers = try await v4Keys(["include": [[:]], "exclude": [["type": "m.room.member"]]])
            #expect(allButMembers.contains("m.room.topic|") && !allButMembers.contains { $0.hasPrefix("m.room.member") })
            #expect(try await v4Keys(["include": [["type": "m.room.topic"]], "lazy_members": true]) == ["m.room.topic|", "m.room.member|@bob:localhost"])
            #expect(try await v4Keys(["include": [["state_key": "@alice:localhost"]]]) == ["m.room.member|@alice:localhost"])
        }
    }

    @Test func lazyMembersAreNotSentTwice() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            try await server.send(alice.token, roomID, "one")
            let body: JSON = ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 5, "required_state": [["m.room.member", "$LAZY"]]]]]
            let first = try await server.slidingSync(bob.token, body)
            #expect(first.stateKeys(roomID).contains("m.room.member|@alice:localhost"))
            try await server.send(alice.token, roomID, "two")
            let second = try await server.slidingSync(bob.token, body, pos: first.pos)
            #expect(second.timelineBodies(roomID) == ["two"])
            #expect(second.stateKeys(roomID).isEmpty)
        }
    }

    @Test func initialLimitedAndNumLive() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            for index in 1...4 { try await server.send(alice.token, roomID, "m\(index)") }
            let body: JSON = ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 2, "required_state": []]]]
            let first = try await server.slidingSync(bob.token, body)
            #expect(first.room(roomID)?["initial"] == true)
            #expect(first.room(roomID)?["limited"] == true)
            #expect(first.room(roomID)?["num_live"] == 0)
            #expect(first.timelineBodies(roomID) == ["m3", "m4"])
            #expect(first.room(roomID)?["joined_count"] == 2)
            let prevBatch = try #require(first.room(roomID)?["prev_batch"]?.stringValue)
            #expect(server.bodies(try await server.messages(bob.token, roomID, query: "dir=b&limit=2&from=\(prevBatch)")) == ["m2", "m1"])

            try await server.send(alice.token, roomID, "m5")
            let second = try await server.slidingSync(bob.token, body, pos: first.pos)
            #expect(second.room(roomID)?["initial"] == nil)
            #expect(second.room(roomID)?["limited"] == nil)
            #expect(second.room(roomID)?["num_live"] == 1)
            #expect(second.timelineBodies(roomID) == ["m5"])

            for index in 6...8 { try await server.send(alice.token, roomID, "m\(index)") }
            let third = try await server.slidingSync(bob.token, body, pos: second.pos)
            #expect(third.room(roomID)?["limited"] == true)
            #expect(third.room(roomID)?["num_live"] == 2)
            #expect(third.timelineBodies(roomID) == ["m7", "m8"])

            // A pos works as `from` in /messages and /relations.
            let pos = try #require(third.pos)
            #expect(server.bodies(try await server.messages(bob.token, roomID, query: "dir=b&limit=1&from=\(pos)")) == ["m8"])
            let eventID = try #require(first.room(roomID)?["timeline"]?[0]?["event_id"]?.stringValue)
            let relations = try await server.call(
                .get, "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/relations/\(TestServer.path(eventID))?from=\(pos)", token: bob.token)
            #expect(relations.status == 200, "\(relations.raw)")
        }
    }

    @Test func roomsSentAreNotSentAgainAndRetriedPosResends() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let body = allRoomsList(limit: 3, requiredState: [["m.room.create", ""]])
            let first = try await server.slidingSync(bob.token, body)
            #expect(first.roomIDs == [roomID])
            // Nothing new: no room comes back, not even with a timeout.
            let quiet = try await server.slidingSync(bob.token, body, pos: first.pos, timeout: 50)
            #expect(quiet.status == 200)
            #expect(quiet.roomIDs.isEmpty)
            try await server.send(alice.token, roomID, "new")
            let update = try await server.slidingSync(bob.token, body, pos: quiet.pos)
            #expect(update.timelineBodies(roomID) == ["new"])
            #expect(update.stateKeys(roomID).isEmpty)
            // The client never got `update`: the same pos again resends what it held.
            let retried = try await server.slidingSync(bob.token, body, pos: quiet.pos)
            #expect(retried.timelineBodies(roomID) == ["new"])
            // Once the retry's pos is used, the superseded one is gone.
            let onward = try await server.slidingSync(bob.token, body, pos: retried.pos)
            #expect(onward.roomIDs.isEmpty)
            #expect(try await server.slidingSync(bob.token, body, pos: quiet.pos).errcode == "M_UNKNOWN_POS")
            // A new connection with the same conn_id starts afresh and sends the room whole.
            let restart = try await server.slidingSync(bob.token, body)
            #expect(restart.room(roomID)?["initial"] == true)
            #expect(try await server.slidingSync(bob.token, body, pos: onward.pos).errcode == "M_UNKNOWN_POS")
        }
    }

    @Test func roomThatChangedOutsideTheWindowComesBackAsADelta() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let old = try await server.createRoom(alice.token)
            let new = try await server.createRoom(alice.token)
            try await server.send(alice.token, old, "before")
            try await server.send(alice.token, new, "newest")
            let body = allRoomsList(range: [0, 0], limit: 5)
            let first = try await server.slidingSync(alice.token, body)
            #expect(first.roomIDs == [new])
            let wide = allRoomsList(range: [0, 1], limit: 5)
            let second = try await server.slidingSync(alice.token, wide, pos: first.pos)
            #expect(second.roomIDs == [old])
            #expect(second.room(old)?["initial"] == true)
            // Back to one room: `old` leaves the window, changes there, and returns with only the change.
            let narrow = try await server.slidingSync(alice.token, body, pos: second.pos)
            #expect(narrow.roomIDs.isEmpty)
            try await server.send(alice.token, old, "while away")
            try await server.send(alice.token, new, "keeps new on top")
            let away = try await server.slidingSync(alice.token, body, pos: narrow.pos)
            #expect(away.roomIDs == [new])
            let back = try await server.slidingSync(alice.token, wide, pos: away.pos)
            #expect(back.roomIDs == [old])
            #expect(back.room(old)?["initial"] == nil)
            #expect(back.timelineBodies(old) == ["while away"])
            #expect(back.room(old)?["num_live"] == 0)
        }
    }

    @Test func growingTheTimelineLimitExpandsIt() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            for index in 1...3 { try await server.send(alice.token, roomID, "m\(index)") }
            let first = try await server.slidingSync(bob.token, allRoomsList(limit: 1))
            #expect(first.timelineBodies(roomID) == ["m3"])
            var body = allRoomsList(limit: 1)
            body["room_subscriptions"] = [.init(stringLiteral: roomID): ["timeline_limit": 3, "required_state": [["m.room.topic", ""]]]]
            let expanded = try await server.slidingSync(bob.token, body, pos: first.pos)
            #expect(expanded.timelineBodies(roomID) == ["m1", "m2", "m3"])
            #expect(expanded.room(roomID)?["unstable_expanded_timeline"] == true)
            #expect(expanded.room(roomID)?["initial"] == nil)
            let v4 = try await server.slidingSyncV4(bob.token, ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 1, "required_state": [:]]]])
            let v4Expanded = try await server.slidingSyncV4(
                bob.token, ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 2, "required_state": [:]]]], pos: v4.pos)
            #expect(v4Expanded.room(roomID)?["expanded_timeline"] == true)
        }
    }

    @Test func unknownPos() async throws {
        try await TestServer.run { server in
            let (_, bob, _) = try await server.aliceAndBobInARoom()
            let other = try await server.login("bob")
            let otherToken = try #require(other.json["access_token"]?.stringValue)
            let carol = try await server.register("carol")
            let first = try await server.slidingSync(bob.token, allRoomsList())
            let pos = try #require(first.pos)
            #expect(try await server.slidingSync(bob.token, allRoomsList(), pos: "nonsense").errcode == "M_UNKNOWN_POS")
            #expect(try await server.slidingSync(bob.token, allRoomsList(), pos: "p1_999_1").errcode == "M_UNKNOWN_POS")
            let otherDevice = try await server.slidingSync(otherToken, allRoomsList(), pos: pos)
            #expect(otherDevice.status == 400)
            #expect(otherDevice.errcode == "M_UNKNOWN_POS")
            #expect(try await server.slidingSync(carol.token, allRoomsList(), pos: pos).errcode == "M_UNKNOWN_POS")
            var otherConnection = allRoomsList()
            otherConnection["conn_id"] = "encryption"
            #expect(try await server.slidingSync(bob.token, otherConnection, pos: pos).errcode == "M_UNKNOWN_POS")
            // The connection and number of a real pos, with another stream position.
            let forged = pos.split(separator: "_").dropFirst().joined(separator: "_")
            #expect(try await server.slidingSyncV4(bob.token, [:], pos: "p0_\(forged)").errcode == "M_UNKNOWN_POS")
        }
    }

    @Test func badRequests() async throws {
        try await TestServer.run { server in
            let (_, _, roomID) = try await server.aliceAndBobInARoom()
            let alice = try await server.register("carol")
            var lists = JSONObject()
            for index in 0...100 { lists["l\(index)"] = ["timeline_limit": 1] }
            #expect(try await server.slidingSyncV4(alice.token, ["lists": .object(lists)]).errcode == "M_INVALID_PARAM")
            var subscriptions = JSONObject()
            for index in 0...100 { subscriptions["!r\(index):localhost"] = ["timeline_limit": 1] }
            #expect(try await server.slidingSyncV4(alice.token, ["room_subscriptions": .object(subscriptions)]).errcode == "M_INVALID_PARAM")
            #expect(try await server.slidingSync(alice.token, ["lists": ["a": ["ranges": [[5, 1]]]]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.slidingSyncV4(alice.token, ["lists": ["a": ["range": "all"]]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.slidingSync(alice.token, ["lists": ["a": ["timeline_limit": -1]]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.slidingSync(alice.token, ["lists": ["a b": ["timeline_limit": 1]]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.slidingSyncV4(alice.token, ["set_presence": "dancing"]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, "/_matrix/client/v4/sync", token: alice.token, body: "[]").status == 400)
            #expect(try await server.call(.get, "/_matrix/client/v4/sync", token: alice.token).status == 405)
            #expect(try await server.call(.post, "/_matrix/client/v4/sync", json: [:]).status == 401)
            // A subscription to a room the user was never in shows nothing.
            let stranger = try await server.register("stranger")
            let peek = try await server.slidingSync(stranger.token, ["room_subscriptions": [.init(stringLiteral: roomID): ["timeline_limit": 5]]])
            #expect(peek.status == 200)
            #expect(peek.roomIDs.isEmpty)
        }
    }

    @Test func longPollWakesOnANewMessage() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let body = allRoomsList()
            let first = try await server.slidingSync(bob.token, body)
            let pos = try #require(first.pos)
            async let waiting = server.slidingSync(bob.token, body, pos: pos, timeout: 20_000)
            try await Task.sleep(for: .milliseconds(200))
            let started = ContinuousClock.now
            try await server.send(alice.token, roomID, "wake up")
            let woken = try await waiting
            #expect(woken.timelineBodies(roomID) == ["wake up"])
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }
}
