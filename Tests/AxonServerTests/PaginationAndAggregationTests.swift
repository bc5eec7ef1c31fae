import AxonServer
import Foundation
import MatrixModel
import Testing

/// `/messages` tokens name gaps between events, and bundled aggregations (issue 11).
@Suite struct PaginationTokenTests {
    @Test func turningAroundAtAnyTokenSeesEveryEventOnce() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for index in 1...30 { try await server.send(alice.token, roomID, "m\(index)") }
            let back = try await server.messages(alice.token, roomID, query: "dir=b&limit=12&filter=%7B%22types%22%3A%5B%22m.room.message%22%5D%7D")
            #expect(server.bodies(back) == (19...30).reversed().map { "m\($0)" })
            let end = try #require(back.json["end"]?.stringValue)
            // Forward from the end of a backward page starts with that page's oldest event.
            let forward = try await server.messages(alice.token, roomID, query: "dir=f&limit=3&from=\(end)")
            #expect(server.bodies(forward) == ["m19", "m20", "m21"])
            // And backward from there continues where the first page stopped.
            let further = try await server.messages(alice.token, roomID, query: "dir=b&limit=2&from=\(end)")
            #expect(server.bodies(further) == ["m18", "m17"])
            // Forward then backward from the forward page's end returns the same events.
            let forwardEnd = try #require(forward.json["end"]?.stringValue)
            let reversed = try await server.messages(alice.token, roomID, query: "dir=b&limit=3&from=\(forwardEnd)")
            #expect(server.bodies(reversed) == ["m21", "m20", "m19"])
        }
    }

    @Test func startOfABackwardPageWithoutFromPagesForwardToNewEvents() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            try await server.send(alice.token, roomID, "old")
            let back = try await server.messages(alice.token, roomID, query: "dir=b&limit=5")
            let start = try #require(back.json["start"]?.stringValue)
            #expect(try await server.messages(alice.token, roomID, query: "dir=f&from=\(start)").json["chunk"]?.arrayValue?.isEmpty == true)
            try await server.send(alice.token, roomID, "new")
            #expect(server.bodies(try await server.messages(alice.token, roomID, query: "dir=f&from=\(start)")) == ["new"])
        }
    }

    @Test func syncAndContextTokensPageWithoutGaps() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for index in 1...6 { try await server.send(alice.token, roomID, "m\(index)") }
            let sync = try await server.sync(alice.token, "filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A2%7D%7D%7D")
            #expect(server.timelineBodies(sync, roomID) == ["m5", "m6"])
            let prevBatch = try #require(sync.json["rooms"]?["join"]?[roomID]?["timeline"]?["prev_batch"]?.stringValue)
            #expect(server.bodies(try await server.messages(alice.token, roomID, query: "dir=b&limit=2&from=\(prevBatch)")) == ["m4", "m3"])
            let m3 = try #require(try await server.messages(alice.token, roomID, query: "dir=b&limit=4").json["chunk"]?[3]?["event_id"]?.stringValue)
            let context = try await server.call(.get, server.room(roomID, "/context/\(TestServer.path(m3))?limit=2"), token: alice.token)
            let start = try #require(context.json["start"]?.stringValue)
            let end = try #require(context.json["end"]?.stringValue)
            #expect(server.bodies(try await server.messages(alice.token, roomID, query: "dir=b&limit=1&from=\(start)")) == ["m1"])
            #expect(server.bodies(try await server.messages(alice.token, roomID, query: "dir=f&limit=1&from=\(end)")) == ["m5"])
        }
    }
}

@Suite struct BundledAggregationTests {
    @Test func latestEditThreadAndReferencesAreBundledEverywhere() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let original = try #require(try await server.send(alice.token, roomID, "typo").json["event_id"]?.stringValue)
            for (index, text) in ["fixed", "fixed again"].enumerated() {
                _ = try await server.call(
                    .put, server.room(roomID, "/send/m.room.message/edit\(index)"), token: alice.token,
                    json: [
                        "msgtype": "m.text", "body": .string("* \(text)"), "m.new_content": ["msgtype": "m.text", "body": .string(text)],
                        "m.relates_to": ["rel_type": "m.replace", "event_id": .string(original)],
                    ])
            }
            _ = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/reply"), token: alice.token,
                json: ["msgtype": "m.text", "body": "in thread", "m.relates_to": ["rel_type": "m.thread", "event_id": .string(original)]])
            _ = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/ref"), token: alice.token,
                json: ["msgtype": "m.text", "body": "see above", "m.relates_to": ["rel_type": "m.reference", "event_id": .string(original)]])
            func check(_ event: JSON?, _ place: String) {
                let relations = event?["unsigned"]?["m.relations"]
                #expect(relations?["m.replace"]?["content"]?["m.new_content"]?["body"] == "fixed again", "\(place)")
                #expect(relations?["m.thread"]?["count"] == 1, "\(place)")
                #expect(relations?["m.thread"]?["latest_event"]?["content"]?["body"] == "in thread", "\(place)")
                #expect(relations?["m.reference"]?["chunk"]?.arrayValue?.count == 1, "\(place)")
            }
            check(try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(original))"), token: alice.token).json, "/event")
            let page = try await server.messages(alice.token, roomID, query: "dir=b&limit=20")
            check(page.json["chunk"]?.arrayValue?.first { $0["event_id"] == .string(original) }, "/messages")
            check(try await server.call(.get, server.room(roomID, "/context/\(TestServer.path(original))"), token: alice.token).json["event"], "/context")
            let sync = try await server.sync(alice.token)
            check(sync.json["rooms"]?["join"]?[roomID]?["timeline"]?["events"]?.arrayValue?.first { $0["event_id"] == .string(original) }, "/sync")
        }
    }

    @Test func threadSummariesCountOnlyVisibleReplies() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "initial_state": [["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]]]])
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let root = try #require(try await server.send(alice.token, roomID, "root").json["event_id"]?.stringValue)
            func reply(_ body: String) async throws {
                _ = try await server.call(
                    .put, server.room(roomID, "/send/m.room.message/\(body.hashValue)"), token: alice.token,
                    json: ["msgtype": "m.text", "body": .string(body), "m.relates_to": ["rel_type": "m.thread", "event_id": .string(root)]])
            }
            try await reply("while bob is here")
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            try await reply("while bob is away")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            func summary(_ token: String) async throws -> JSON? {
                try await server.call(.get, "/_matrix/client/v1/rooms/\(TestServer.path(roomID))/threads", token: token)
                    .json["chunk"]?[0]?["unsigned"]?["m.relations"]?["m.thread"]
            }
            #expect(try await summary(alice.token)?["count"] == 2)
            let forBob = try await summary(bob.token)
            #expect(forBob?["count"] == 1)
            #expect(forBob?["latest_event"]?["content"]?["body"] == "while bob is here")
        }
    }
}

@Suite struct BoundsTests {
    @Test func searchTermsAndCountsAreBounded() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "initial_state": [["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]]]])
            for index in 0..<3 { try await server.send(alice.token, roomID, "secret plan \(index)") }
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "public plan")
            func search(_ token: String, _ term: String) async throws -> TestServer.Reply {
                try await server.call(
                    .post, "/_matrix/client/v3/search", token: token, json: ["search_categories": ["room_events": ["search_term": .string(term)]]])
            }
            #expect(try await search(bob.token, "plan").json["search_categories"]?["room_events"]?["count"] == 1)
            #expect(try await search(alice.token, "plan").json["search_categories"]?["room_events"]?["count"] == 4)
            #expect(try await search(bob.token, String(repeating: "a", count: 600)).errcode == "M_INVALID_PARAM")
            #expect(try await search(bob.token, Array(repeating: "w", count: 17).joined(separator: " ")).errcode == "M_INVALID_PARAM")
        }
    }

    @Test func filtersAreBoundedAndDeduplicated() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let path = "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/filter"
            let tooLong = try await server.call(
                .post, path, token: alice.token, json: ["room": ["rooms": .array((0..<501).map { .string("!r\($0):localhost") })]])
            #expect(tooLong.errcode == "M_INVALID_PARAM")
            let tooBig = try await server.call(
                .post, path, token: alice.token, json: ["event_fields": .array((0..<400).map { .string("content.\($0)" + String(repeating: "x", count: 40)) })])
            #expect(tooBig.errcode == "M_INVALID_PARAM")
            let first = try await server.call(.post, path, token: alice.token, json: ["room": ["timeline": ["limit": 1]]])
            let again = try await server.call(.post, path, token: alice.token, json: ["room": ["timeline": ["limit": 1]]])
            #expect(first.json["filter_id"] == again.json["filter_id"])
            var ids: [String] = []
            for index in 0..<101 {
                ids.append(try #require(try await server.call(.post, path, token: alice.token, json: ["room": ["timeline": ["limit": .int(Int64(index + 2))]]]).json["filter_id"]?.stringValue))
            }
            #expect(try await server.call(.get, "\(path)/\(ids[0])", token: alice.token).status == 404)
            #expect(try await server.call(.get, "\(path)/\(ids[100])", token: alice.token).status == 200)
        }
    }

    @Test func bodiesAreReadOnlyForAuthenticatedCallersAndWithinTheirRouteLimit() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let big = JSON.object(["body": .string(String(repeating: "x", count: 70 * 1024))]).encodedString()
            let path = server.room(roomID, "/send/m.room.message/big")
            // No token: refused before the body is read, whatever its size.
            #expect(try await server.call(.put, path, body: big).errcode == "M_MISSING_TOKEN")
            #expect(try await server.call(.put, path, token: alice.token, body: big).status == 413)
            // Key backups may be larger than events.
            let version = try await server.call(
                .post, "/_matrix/client/v3/room_keys/version", token: alice.token,
                json: ["algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ["public_key": "abc"]])
            var sessions = JSONObject()
            for index in 0..<300 {
                sessions["s\(index)"] = [
                    "first_message_index": 0, "forwarded_count": 0, "is_verified": false,
                    "session_data": ["ciphertext": .string(String(repeating: "c", count: 300))],
                ]
            }
            var rooms = JSONObject()
            rooms[roomID] = ["sessions": .object(sessions)]
            let backup = JSON.object(["rooms": .object(rooms)])
            let stored = try await server.call(
                .put, "/_matrix/client/v3/room_keys/keys?version=\(version.json["version"]?.stringValue ?? "")", token: alice.token,
                body: backup.encodedString())
            #expect(stored.status == 200, "\(stored.raw.prefix(200))")
        }
    }

    @Test func accountDataAndStatusMessagesAreBounded() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let data = "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/account_data/big"
            #expect(try await server.call(.put, data, token: alice.token, json: ["x": .string(String(repeating: "x", count: 200 * 1024))]).status == 200)
            #expect(try await server.call(.put, data, token: alice.token, json: ["x": .string(String(repeating: "x", count: 300 * 1024))]).status == 413)
            let status = "/_matrix/client/v3/presence/\(TestServer.path(alice.userID))/status"
            #expect(try await server.call(.put, status, token: alice.token, json: ["presence": "online", "status_msg": .string(String(repeating: "s", count: 2000))]).status == 400)
            #expect(try await server.call(.put, status, token: alice.token, json: ["presence": "online", "status_msg": "lunch"]).status == 200)
            // m.fully_read is room account data only (seed account-data.yaml).
            let fullyRead = try await server.call(
                .put, "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/account_data/m.fully_read", token: alice.token, json: ["event_id": "$x"])
            #expect(fullyRead.status == 405)
            #expect(fullyRead.errcode == "M_BAD_JSON")
        }
    }

    @Test func theSameTransactionOnR0AndV3IsOneEvent() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            var ids: [JSON?] = []
            for prefix in ["/_matrix/client/r0", "/_matrix/client/v3"] {
                ids.append(
                    try await server.call(
                        .put, "\(prefix)/rooms/\(TestServer.path(roomID))/send/m.room.message/same", token: alice.token,
                        json: ["msgtype": "m.text", "body": "once"]).json["event_id"])
            }
            #expect(ids[0] != nil && ids[0] == ids[1])
            #expect(server.bodies(try await server.messages(alice.token, roomID)) == ["once"])
        }
    }

    @Test func guestsMaySetOnlyADisplayName() async throws {
        try await TestServer.run(configure: { $0.allowGuestAccess = true }) { server in
            let guest = try await server.call(.post, "/_matrix/client/v3/register?kind=guest", json: [:])
            let token = try #require(guest.json["access_token"]?.stringValue)
            let userID = try #require(guest.json["user_id"]?.stringValue)
            let profile = "/_matrix/client/v3/profile/\(TestServer.path(userID))"
            #expect(try await server.call(.put, "\(profile)/displayname", token: token, json: ["displayname": "Guest"]).status == 200)
            #expect(try await server.call(.put, "\(profile)/avatar_url", token: token, json: ["avatar_url": "mxc://x/y"]).errcode == "M_GUEST_ACCESS_FORBIDDEN")
            #expect(try await server.call(.put, "\(profile)/m.tz", token: token, json: ["m.tz": "UTC"]).errcode == "M_GUEST_ACCESS_FORBIDDEN")
        }
    }

    @Test func passwordStagesOfUIAAreRateLimited() async throws {
        try await TestServer.run(configure: { $0.rateLimitsEnabled = true }) { server in
            let alice = try await server.register("alice")
            var limited = false
            for attempt in 0..<10 {
                let reply = try await server.call(
                    .post, "/_matrix/client/v3/delete_devices", token: alice.token,
                    json: ["devices": ["NOPE"], "auth": server.passwordAuth(alice.userID, "wrong \(attempt)")])
                if reply.errcode == "M_LIMIT_EXCEEDED" { limited = true; break }
                #expect(reply.status == 401)
            }
            #expect(limited)
        }
    }

    @Test func publicRoomDirectoryFollowsChanges() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "First", "visibility": "public"])
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms").json["chunk"]?[0]?["name"] == "First")
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.name"), token: alice.token, json: ["name": "Second"])
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms").json["chunk"]?[0]?["name"] == "Second")
            _ = try await server.call(.put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: alice.token, json: ["visibility": "private"])
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms").json["chunk"]?.arrayValue?.isEmpty == true)
        }
    }
}
