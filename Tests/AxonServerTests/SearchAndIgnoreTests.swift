import Foundation
import MatrixModel
import Testing

@Suite struct SearchTests {
    let search = "/_matrix/client/v3/search"

    func query(_ term: String, order: String? = nil, limit: Int? = nil, extra: JSONObject = [:]) -> JSON {
        var criteria: JSONObject = ["search_term": .string(term)]
        if let order { criteria["order_by"] = .string(order) }
        if let limit { criteria["filter"] = ["limit": .int(Int64(limit))] }
        for (key, value) in extra { criteria[key] = value }
        return ["search_categories": ["room_events": .object(criteria)]]
    }

    func bodies(_ reply: TestServer.Reply) -> [String] {
        reply.json["search_categories"]?["room_events"]?["results"]?.arrayValue?
            .compactMap { $0["result"]?["content"]?["body"]?.stringValue } ?? []
    }

    @Test func findsWordsInVisibleRoomsOnly() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let shared = try await server.createRoom(alice.token)
            let secret = try await server.createRoom(alice.token, ["preset": "private_chat"])
            try await server.call(.post, server.room(shared, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, shared, "Lunch plans for Friday")
            try await server.send(alice.token, shared, "nothing to see")
            try await server.send(alice.token, secret, "secret lunch")

            let mine = try await server.call(.post, search, token: alice.token, json: query("lunch"))
            #expect(mine.status == 200)
            #expect(Set(bodies(mine)) == ["Lunch plans for Friday", "secret lunch"])
            #expect(mine.json["search_categories"]?["room_events"]?["count"] == 2)
            #expect(bodies(try await server.call(.post, search, token: bob.token, json: query("lunch"))) == ["Lunch plans for Friday"])
            // Prefixes match, every word is required, case does not matter.
            #expect(bodies(try await server.call(.post, search, token: bob.token, json: query("LUN fri"))) == ["Lunch plans for Friday"])
            #expect(bodies(try await server.call(.post, search, token: bob.token, json: query("lunch monday"))).isEmpty)
            // Names and topics are searchable by key.
            try await server.call(.put, server.room(shared, "/state/m.room.topic/"), token: alice.token, json: ["topic": "Lunch club"])
            let topics = try await server.call(.post, search, token: bob.token, json: query("club", extra: ["keys": ["content.topic"]]))
            #expect(topics.json["search_categories"]?["room_events"]?["results"]?[0]?["result"]?["content"]?["topic"] == "Lunch club")
        }
    }

    @Test func historyBeforeJoiningStaysHidden() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            try await server.call(
                .put, server.room(roomID, "/state/m.room.history_visibility/"), token: alice.token, json: ["history_visibility": "joined"])
            try await server.send(alice.token, roomID, "early word")
            try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "later word")
            #expect(bodies(try await server.call(.post, search, token: bob.token, json: query("word"))) == ["later word"])
        }
    }

    @Test func recentOrderPagesWithContext() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for index in 1...5 { try await server.send(alice.token, roomID, "apple \(index)") }
            let first = try await server.call(
                .post, search, token: alice.token,
                json: query("apple", order: "recent", limit: 2, extra: ["event_context": ["before_limit": 1, "after_limit": 1, "include_profile": true]]))
            #expect(bodies(first) == ["apple 5", "apple 4"])
            let events = first.json["search_categories"]?["room_events"]
            let context = events?["results"]?[1]?["context"]
            #expect(context?["events_before"]?[0]?["content"]?["body"] == "apple 3")
            #expect(context?["events_after"]?[0]?["content"]?["body"] == "apple 5")
            #expect(context?["profile_info"]?["@alice:localhost"] != nil)
            let next = try #require(events?["next_batch"]?.stringValue)
            let second = try await server.call(.post, search + "?next_batch=\(next)", token: alice.token, json: query("apple", order: "recent", limit: 2))
            #expect(bodies(second) == ["apple 3", "apple 2"])

            let ranked = try await server.call(.post, search, token: alice.token, json: query("apple", limit: 3))
            #expect(bodies(ranked).count == 3)
            let rankedNext = try #require(ranked.json["search_categories"]?["room_events"]?["next_batch"]?.stringValue)
            let rankedRest = try await server.call(.post, search + "?next_batch=\(rankedNext)", token: alice.token, json: query("apple", limit: 3))
            #expect(Set(bodies(ranked) + bodies(rankedRest)).count == 5)
            #expect(ranked.json["search_categories"]?["room_events"]?["results"]?[0]?["rank"] != nil)

            let grouped = try await server.call(
                .post, search, token: alice.token, json: query("apple", extra: ["groupings": ["group_by": [["key": "room_id"]]]]))
            #expect(grouped.json["search_categories"]?["room_events"]?["groups"]?["room_id"]?[roomID]?["results"]?.arrayValue?.count == 5)
        }
    }

    @Test func searchErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            #expect(try await server.call(.post, search, token: alice.token, json: [:]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.post, search, token: alice.token, json: ["search_categories": ["room_events": [:]]]).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.post, search, token: alice.token, json: query("x", order: "random")).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, search, token: alice.token, json: query("x", extra: ["keys": ["content.secret"]])).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, search + "?next_batch=s:5", token: alice.token, json: query("x")).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, search, json: query("x")).status == 401)
            // Punctuation only: no words, no results, no error.
            let empty = try await server.call(.post, search, token: alice.token, json: query("?!"))
            #expect(empty.status == 200 && bodies(empty).isEmpty)
        }
    }

    @Test func redactedEventsLeaveTheIndex() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let eventID = try #require(try await server.send(alice.token, roomID, "regrettable words").json["event_id"]?.stringValue)
            try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(eventID))/r1"), token: alice.token, json: [:])
            #expect(bodies(try await server.call(.post, search, token: alice.token, json: query("regrettable"))).isEmpty)
        }
    }
}

@Suite struct IgnoreTests {
    func ignore(_ server: TestServer, _ session: TestServer.Session, _ users: [String]) async throws {
        var ignored = JSONObject()
        for user in users { ignored[user] = [:] }
        let reply = try await server.call(
            .put, "/_matrix/client/v3/user/\(TestServer.path(session.userID))/account_data/m.ignored_user_list", token: session.token,
            json: ["ignored_users": .object(ignored)])
        try #require(reply.status == 200)
    }

    @Test func ignoredUsersVanishFromTimelinesAndInvites() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.token)
            for user in [bob, carol] { try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
            try await ignore(server, bob, ["@carol:localhost"])
            try await server.send(carol.token, roomID, "from carol")
            try await server.send(alice.token, roomID, "from alice")

            let sync = try await server.sync(bob.token)
            let timeline = sync.json["rooms"]?["join"]?[roomID]?["timeline"]?["events"]?.arrayValue ?? []
            #expect(!timeline.contains { $0["content"]?["body"] == "from carol" })
            #expect(timeline.contains { $0["content"]?["body"] == "from alice" })
            // Carol's state (her join) still shows: clients need it to render the room.
            #expect(timeline.contains { $0["type"] == "m.room.member" && $0["state_key"] == "@carol:localhost" })
            #expect(server.bodies(try await server.messages(bob.token, roomID)) == ["from alice"])
            #expect(server.bodies(try await server.messages(alice.token, roomID)) == ["from alice", "from carol"])

            let carolsRoom = try await server.createRoom(carol.token, ["preset": "private_chat"])
            try await server.call(.post, server.room(carolsRoom, "/invite"), token: carol.token, json: ["user_id": "@bob:localhost"])
            #expect(try await server.sync(bob.token).json["rooms"]?["invite"]?[carolsRoom] == nil)

            // An incremental sync (its ignored list read with the stream changes) hides her too.
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            try await server.send(carol.token, roomID, "carol again")
            try await server.send(alice.token, roomID, "alice again")
            #expect(server.timelineBodies(try await server.sync(bob.token, "since=\(since)"), roomID) == ["alice again"])

            // Un-ignoring brings her back.
            try await ignore(server, bob, [])
            #expect(server.bodies(try await server.messages(bob.token, roomID)) == ["alice again", "carol again", "from alice", "from carol"])
            #expect(try await server.sync(bob.token).json["rooms"]?["invite"]?[carolsRoom] != nil)
        }
    }
}
