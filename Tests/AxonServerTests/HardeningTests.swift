import AxonServer
import Foundation
import MatrixModel
import Testing

/// Regression tests for the adversarial review (issue 11): each failed before its fix.
@Suite struct CrashTests {
    @Test func messagesWithZeroOrNegativeLimitsAnswer() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            try await server.send(alice.token, roomID, "hello")
            for query in ["dir=b&limit=0", "dir=f&limit=0", #"dir=b&filter={"limit":0}"#.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!] {
                let reply = try await server.messages(alice.token, roomID, query: query)
                #expect(reply.status == 200, "\(query): \(reply.raw)")
                #expect(reply.json["chunk"]?.arrayValue?.isEmpty == true)
            }
            for query in ["dir=b&limit=-5", "dir=b&limit=ten", "dir=b&limit=-9223372036854775808"] {
                #expect(try await server.messages(alice.token, roomID, query: query).errcode == "M_INVALID_PARAM", "\(query)")
            }
            #expect(try await server.messages(alice.token, roomID, query: "dir=b&limit=9223372036854775807").status == 200)
        }
    }

    @Test func thumbnailOfAHeaderClaimingHugeDimensionsIsRefused() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            // A PNG signature and an IHDR chunk claiming 4294967295 × 4294967295.
            var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
            png += Array("IHDR".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
            let upload = try await server.client.execute(
                uri: "/_matrix/media/v3/upload", method: .post,
                headers: [.authorization: "Bearer \(alice.token)", .contentType: "image/png"], body: .init(bytes: png))
            let uri = try #require(JSONParser.parse(String(buffer: upload.body))["content_uri"]?.stringValue)
            let path = uri.dropFirst("mxc://".count)
            let thumbnail = try await server.call(
                .get, "/_matrix/client/v1/media/thumbnail/\(path)?width=64&height=64", token: alice.token)
            #expect((400..<500).contains(thumbnail.status), "\(thumbnail.raw)")
            #expect(try await server.call(.get, "/_matrix/client/versions").status == 200)
        }
    }

    /// Every route, every method, with `limit`, `timeout` and `from` at the edges of Int64:
    /// no route may trap or answer 5xx.
    @Test func everyRouteSurvivesExtremePagingParameters() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let eventID = try #require(try await server.send(alice.token, roomID, "hi").json["event_id"]?.stringValue)
            let values: [String: String] = [
                "roomId": roomID, "roomIdOrAlias": roomID, "eventId": eventID, "userId": alice.userID, "roomAlias": "#x:localhost",
                "serverName": "localhost", "mediaId": "nothing", "deviceId": alice.deviceID,
            ]
            let extremes = ["0", "-1", "9223372036854775807", "-9223372036854775808"]
            for route in server.server.routeList where !route.pattern.contains("/logout") && !route.pattern.contains("deactivate") {
                var path = route.pattern
                while let open = path.firstIndex(of: "{"), let close = path[open...].firstIndex(of: "}") {
                    let name = String(path[path.index(after: open)..<close])
                    path.replaceSubrange(open...close, with: TestServer.path(values[name] ?? "x"))
                }
                for value in extremes {
                    let query = "limit=\(value)&timeout=\(value)&from=\(value)&dir=b&ts=\(value)"
                    let reply = try await server.call(
                        .init(route.method)!, "\(path)?\(query)", token: alice.token, json: route.method == "GET" ? nil : [:])
                    #expect(reply.status < 500, "\(route.method) \(route.pattern) \(value): \(reply.raw)")
                }
            }
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).status == 200)
        }
    }
}

@Suite struct AuthorisationBypassTests {
    @Test func restrictedJoinCannotBeClaimedThroughTheStateAPI() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let mallory = try await server.register("mallory")
            let space = try await server.createRoom(alice.token, ["preset": "private_chat"])
            let roomID = try await server.createRoom(
                alice.token,
                [
                    "preset": "private_chat",
                    "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "restricted", "allow": [["type": "m.room_membership", "room_id": .string(space)]]]]],
                ])
            let forged: JSON = ["membership": "join", "join_authorised_via_users_server": .string(alice.userID)]
            let viaState = try await server.call(
                .put, server.room(roomID, "/state/m.room.member/\(TestServer.path(mallory.userID))"), token: mallory.token, json: forged)
            #expect(viaState.status == 403, "\(viaState.raw)")
            let viaJoin = try await server.call(.post, server.room(roomID, "/join"), token: mallory.token, json: forged)
            #expect(viaJoin.status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/state"), token: mallory.token).status == 403)
        }
    }

    @Test func redactingOthersNeedsTheRedactLevel() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let aliceEvent = try #require(try await server.send(alice.token, roomID, "alice's").json["event_id"]?.stringValue)
            let bobEvent = try #require(try await server.send(bob.token, roomID, "bob's").json["event_id"]?.stringValue)
            let refused = try await server.call(
                .put, server.room(roomID, "/redact/\(TestServer.path(aliceEvent))/t1"), token: bob.token, json: [:])
            #expect(refused.status == 403)
            #expect(refused.errcode == "M_FORBIDDEN")
            #expect(try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(bobEvent))/t2"), token: bob.token, json: [:]).status == 200)
            #expect(try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(bobEvent))/t3"), token: alice.token, json: [:]).status == 200)
            // An event of another room is not found through this one.
            let other = try await server.createRoom(alice.token)
            let otherEvent = try #require(try await server.send(alice.token, other, "elsewhere").json["event_id"]?.stringValue)
            #expect(try await server.call(.put, server.room(roomID, "/redact/\(TestServer.path(otherEvent))/t4"), token: alice.token, json: [:]).status == 404)
        }
    }

    @Test func neverJoinedUsersSeeNoRoomState() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat", "name": "Secret plans"])
            _ = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": .string(bob.userID)])
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": .string(carol.userID)])
            for user in [bob, carol] {
                for path in ["/state", "/members", "/joined_members", "/messages?dir=b"] {
                    #expect(try await server.call(.get, server.room(roomID, path), token: user.token).status == 403, "\(path)")
                }
                // Room initialSync shows the user their own departure and nothing of the room.
                let initial = try await server.call(.get, server.room(roomID, "/initialSync"), token: user.token)
                #expect(initial.json["state"]?.arrayValue?.isEmpty == true)
                #expect(!initial.raw.contains("Secret plans"))
                let filter = #"{"room":{"include_leave":true}}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let sync = try await server.call(.get, "/_matrix/client/v3/sync?filter=\(filter)", token: user.token)
                let left = try #require(sync.json["rooms"]?["leave"]?[roomID])
                #expect(left["state"]?["events"]?.arrayValue?.isEmpty == true)
                let timeline = left["timeline"]?["events"]?.arrayValue ?? []
                #expect(timeline.map { $0["type"] } == ["m.room.member"])
                let archived = try await server.call(.get, "/_matrix/client/v3/initialSync?archived=true", token: user.token)
                #expect(archived.status == 200)
                #expect(!archived.raw.contains("Secret plans"))
                #expect(!sync.raw.contains("Secret plans"))
            }
        }
    }

    @Test func aWithdrawnKnockShowsNoRoomState() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let dave = try await server.register("dave")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "private_chat", "name": "Knock knock", "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "knock"]]]])
            #expect(try await server.call(.post, "/_matrix/client/v3/knock/\(TestServer.path(roomID))", token: dave.token, json: [:]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/leave"), token: dave.token, json: [:]).status == 200)
            #expect(try await server.call(.get, server.room(roomID, "/state"), token: dave.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/members"), token: dave.token).status == 403)
            #expect(!(try await server.call(.get, server.room(roomID, "/initialSync"), token: dave.token).raw.contains("Knock knock")))
        }
    }

    @Test func relationsFromAnotherRoomDoNotAttach() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let mallory = try await server.register("mallory")
            let privateRoom = try await server.createRoom(alice.token, ["preset": "private_chat"])
            let target = try #require(try await server.send(alice.token, privateRoom, "root").json["event_id"]?.stringValue)
            let own = try await server.createRoom(mallory.token)
            let injected = try await server.call(
                .put, server.room(own, "/send/m.reaction/r1"), token: mallory.token,
                json: ["m.relates_to": ["rel_type": "m.annotation", "event_id": .string(target), "key": "👎"]])
            #expect(injected.status == 200)
            let relations = try await server.call(
                .get, "/_matrix/client/v1/rooms/\(TestServer.path(privateRoom))/relations/\(TestServer.path(target))", token: alice.token)
            #expect(relations.json["chunk"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func membersAtAPointTheUserMayNotSeeAreRefused() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "initial_state": [["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]]]])
            try await server.send(alice.token, roomID, "before bob")
            let before = try await server.messages(alice.token, roomID, query: "dir=b&limit=1")
            let token = try #require(before.json["start"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            #expect(try await server.call(.get, server.room(roomID, "/members?at=\(token)"), token: bob.token).status == 403)
            #expect(try await server.call(.get, server.room(roomID, "/members?at=\(token)"), token: alice.token).status == 200)
        }
    }

    @Test func publishingFollowsPowerLevelsNotTheCreator() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": "11"])
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let levels = try await server.call(
                .put, server.room(roomID, "/state/m.room.power_levels"), token: alice.token,
                json: ["users": [.init(stringLiteral: bob.userID): 100, .init(stringLiteral: alice.userID): 0]])
            #expect(levels.status == 200, "\(levels.raw)")
            let ban = try await server.call(.post, server.room(roomID, "/ban"), token: bob.token, json: ["user_id": .string(alice.userID)])
            #expect(ban.status == 200, "\(ban.raw)")
            let publish = try await server.call(
                .put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: alice.token, json: ["visibility": "public"])
            #expect(publish.status == 403)
            let byBob = try await server.call(
                .put, "/_matrix/client/v3/directory/list/room/\(TestServer.path(roomID))", token: bob.token, json: ["visibility": "public"])
            #expect(byBob.status == 200, "\(byBob.raw)")
        }
    }
}

@Suite struct StoredDocumentTests {
    static func nested(_ depth: Int) -> JSON {
        var value: JSON = "core"
        for _ in 0..<depth { value = ["n": value] }
        return value
    }

    /// Member content as deep as a request body allows must read back exactly: a ban on
    /// such a member must stay a ban.
    @Test(arguments: [97, 98])
    func deepMemberContentReadsBack(depth: Int) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let path = server.room(roomID, "/state/m.room.member/\(TestServer.path(bob.userID))")
            let set = try await server.call(.put, path, token: bob.token, json: ["membership": "join", "deep": Self.nested(depth)])
            #expect(set.status == 200, "\(set.raw)")
            #expect(try await server.call(.get, path, token: bob.token).json["deep"] == Self.nested(depth))
            _ = try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": .string(bob.userID)])
            let member = try await server.call(.get, path, token: alice.token)
            #expect(member.json["membership"] == "ban")
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 403)
        }
    }

    @Test func deepFiltersAndPushRulesReadBack() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let filters = "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/filter"
            let filter: JSON = ["account_data": ["limit": 1], "org.example.deep": Self.nested(98)]
            let id = try #require(try await server.call(.post, filters, token: alice.token, json: filter).json["filter_id"]?.stringValue)
            #expect(try await server.call(.get, "\(filters)/\(id)", token: alice.token).json == filter)
            #expect(try await server.sync(alice.token, "filter=\(id)").status == 200)
            let rule = "/_matrix/client/v3/pushrules/global/override/deep"
            let actions: JSON = ["notify", ["set_tweak": "org.example", "value": Self.nested(95)]]
            let set = try await server.call(
                .put, rule, token: alice.token,
                json: ["conditions": [["kind": "event_match", "key": "type", "pattern": "m.room.message"]], "actions": actions])
            #expect(set.status == 200, "\(set.raw)")
            #expect(try await server.call(.get, "\(rule)/actions", token: alice.token).json["actions"] == actions)
            #expect(try await server.call(.get, "/_matrix/client/v3/pushrules/", token: alice.token).status == 200)
        }
    }

    @Test func deepAccountDataReadsBack() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let path = "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/account_data/deep"
            let deep: JSON = ["d": Self.nested(98)]
            #expect(try await server.call(.put, path, token: alice.token, json: deep).status == 200)
            #expect(try await server.call(.get, path, token: alice.token).json == deep)
            #expect(try await server.call(.put, path, token: alice.token, json: ["d": Self.nested(100)]).errcode == "M_NOT_JSON")
        }
    }
}
