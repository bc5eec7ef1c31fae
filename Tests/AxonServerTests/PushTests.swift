import Foundation
import Hummingbird
import HummingbirdTesting
import MatrixModel
import Synchronization
import Testing

@Suite struct PushRuleRouteTests {
    let rules = "/_matrix/client/v3/pushrules"

    @Test func defaultRulesNameTheUser() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let all = try await server.call(.get, rules + "/", token: alice.token)
            #expect(all.status == 200)
            let override = try #require(all.json["global"]?["override"]?.arrayValue)
            #expect(override.first?["rule_id"] == ".m.rule.master")
            let mention = try #require(override.first { $0["rule_id"] == ".m.rule.is_user_mention" })
            #expect(mention["conditions"]?[0]?["value"] == "@alice:localhost")
            #expect(all.json["global"]?["underride"]?.arrayValue?.last?["rule_id"] == ".m.rule.encrypted")
            #expect(try await server.call(.get, rules + "/global/", token: alice.token).json["content"] == [])
            // The first sync carries the defaults as m.push_rules; clients cannot write that type directly.
            let sync = try await server.sync(alice.token)
            let pushRules = sync.json["account_data"]?["events"]?.arrayValue?.first { $0["type"] == "m.push_rules" }
            #expect(pushRules?["content"] == all.json)
            let direct = try await server.call(
                .put, "/_matrix/client/v3/user/@alice:localhost/account_data/m.push_rules", token: alice.token, json: [:])
            #expect(direct.status == 405)
        }
    }

    @Test func userRulesAreOrderedChangedAndSynced() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            #expect(try await server.call(.put, rules + "/global/content/cake", token: alice.token, json: ["pattern": "cake", "actions": ["notify"]]).status == 200)
            #expect(try await server.call(.put, rules + "/global/content/lie?before=cake", token: alice.token, json: ["pattern": "cake*lie", "actions": []]).status == 200)
            #expect(try await server.call(.put, rules + "/global/content/tea?after=cake", token: alice.token, json: ["pattern": "tea", "actions": []]).status == 200)
            let content = try await server.call(.get, rules + "/global/", token: alice.token).json["content"]?.arrayValue
            #expect(content?.compactMap { $0["rule_id"]?.stringValue } == ["lie", "cake", "tea"])

            let rule = try await server.call(.get, rules + "/global/content/cake", token: alice.token)
            #expect(rule.json == ["rule_id": "cake", "default": false, "enabled": true, "pattern": "cake", "actions": ["notify"]])
            #expect(try await server.call(.put, rules + "/global/content/cake/enabled", token: alice.token, json: ["enabled": false]).status == 200)
            #expect(try await server.call(.get, rules + "/global/content/cake/enabled", token: alice.token).json == ["enabled": false])
            #expect(try await server.call(.put, rules + "/global/underride/.m.rule.message/actions", token: alice.token, json: ["actions": []]).status == 200)
            #expect(try await server.call(.get, rules + "/global/underride/.m.rule.message/actions", token: alice.token).json == ["actions": []])
            #expect(try await server.call(.delete, rules + "/global/content/tea", token: alice.token).status == 200)
            #expect(try await server.call(.get, rules + "/global/content/tea", token: alice.token).status == 404)

            // Other devices learn of the change through account data.
            let later = try await server.sync(alice.token, "since=\(since)")
            let synced = later.json["account_data"]?["events"]?.arrayValue?.first { $0["type"] == "m.push_rules" }
            #expect(synced?["content"]?["global"]?["content"]?.arrayValue?.count == 2)
            #expect(try await server.call(.get, "/_matrix/client/v3/user/@alice:localhost/account_data/m.push_rules", token: alice.token).json["global"]?["content"]?.arrayValue?.count == 2)
        }
    }

    @Test func pushRuleErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            func put(_ path: String, _ body: JSON) async throws -> TestServer.Reply {
                try await server.call(.put, rules + path, token: alice.token, json: body)
            }
            #expect(try await server.call(.get, rules + "/global/override/nothing", token: alice.token).status == 404)
            #expect(try await server.call(.get, rules + "/global/sideways/x", token: alice.token).status == 404)
            #expect(try await put("/global/sideways/x", ["actions": []]).errcode == "M_INVALID_PARAM")
            #expect(try await put("/global/override/.mine", ["actions": []]).status == 400)
            #expect(try await put("/global/override/x?before=missing", ["actions": []]).errcode == "M_UNKNOWN")
            #expect(try await put("/global/content/x", ["actions": []]).errcode == "M_MISSING_PARAM")
            #expect(try await put("/global/override/x", ["actions": "notify"]).status == 400)
            #expect(try await put("/global/room/not-a-room", ["actions": []]).errcode == "M_INVALID_PARAM")
            #expect(try await put("/global/override/nothing/enabled", ["enabled": true]).status == 404)
            #expect(try await put("/global/override/.m.rule.master/enabled", ["enabled": "yes"]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.delete, rules + "/global/override/.m.rule.master", token: alice.token).status == 400)
            #expect(try await server.call(.delete, rules + "/global/override/nothing", token: alice.token).status == 404)
            #expect(try await server.call(.get, rules + "/", token: nil).status == 401)
        }
    }
}

@Suite struct NotificationCountTests {
    func counts(_ sync: TestServer.Reply, _ roomID: String) -> JSON? {
        sync.json["rooms"]?["join"]?[roomID]?["unread_notifications"]
    }

    /// Alice, Bob and Carol in one room (three members: no one-to-one rules).
    func threeInARoom(_ server: TestServer) async throws -> (TestServer.Session, TestServer.Session, String) {
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let roomID = try await server.createRoom(alice.token)
        for user in [bob, carol] { try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
        return (alice, bob, roomID)
    }

    func sendJSON(_ server: TestServer, _ token: String, _ roomID: String, _ content: JSON, type: String = "m.room.message") async throws -> String {
        let reply = try await server.call(.put, server.room(roomID, "/send/\(type)/\(UUID().uuidString)"), token: token, json: content)
        try #require(reply.status == 200, "send: \(reply.raw)")
        return reply.json["event_id"]!.stringValue!
    }

    @Test func messagesAndMentionsCountUntilRead() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await threeInARoom(server)
            try await server.send(bob.token, roomID, "hello")
            try await sendJSON(server, bob.token, roomID, ["msgtype": "m.notice", "body": "a bot speaks"])
            let mention = try await sendJSON(
                server, bob.token, roomID, ["msgtype": "m.text", "body": "alice!", "m.mentions": ["user_ids": ["@alice:localhost"]]])
            let sync = try await server.sync(alice.token)
            #expect(counts(sync, roomID) == ["notification_count": 2, "highlight_count": 1])
            #expect(counts(try await server.sync(bob.token), roomID) == ["notification_count": 0, "highlight_count": 0])

            let since = try #require(sync.json["next_batch"]?.stringValue)
            #expect(try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(mention))"), token: alice.token, json: [:]).status == 200)
            let afterRead = try await server.sync(alice.token, "since=\(since)")
            #expect(counts(afterRead, roomID) == ["notification_count": 0, "highlight_count": 0], "the count changes in the same sync as the receipt")

            // A private receipt clears too, and so does sending a message oneself.
            try await server.send(bob.token, roomID, "again")
            #expect(counts(try await server.sync(alice.token), roomID)?["notification_count"] == 1)
            try await server.send(alice.token, roomID, "I'm here")
            #expect(counts(try await server.sync(alice.token), roomID)?["notification_count"] == 0)
        }
    }

    @Test func roomRuleSilencesAndRoomMentionNeedsPower() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await threeInARoom(server)
            try await sendJSON(server, bob.token, roomID, ["msgtype": "m.text", "body": "@room hi", "m.mentions": ["room": true]])
            #expect(counts(try await server.sync(alice.token), roomID) == ["notification_count": 1, "highlight_count": 0], "bob lacks the power for @room")
            try await sendJSON(server, alice.token, roomID, ["msgtype": "m.text", "body": "@room hi", "m.mentions": ["room": true]])
            #expect(counts(try await server.sync(bob.token), roomID) == ["notification_count": 1, "highlight_count": 1], "alice, the creator, has it")

            let rule = "/_matrix/client/v3/pushrules/global/room/\(TestServer.path(roomID))"
            #expect(try await server.call(.put, rule, token: bob.token, json: ["actions": []]).status == 200)
            try await server.send(alice.token, roomID, "muted")
            #expect(counts(try await server.sync(bob.token), roomID)?["notification_count"] == 1, "the muted message adds nothing")
        }
    }

    @Test func threadsCountApartWhenAsked() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await threeInARoom(server)
            let root = try #require(try await server.send(bob.token, roomID, "root").json["event_id"]?.stringValue)
            let threaded: JSON = ["msgtype": "m.text", "body": "in thread", "m.relates_to": ["rel_type": "m.thread", "event_id": .string(root)]]
            try await sendJSON(server, bob.token, roomID, threaded)
            let reply = try await sendJSON(server, bob.token, roomID, threaded)
            // A reaction to a threaded event belongs to that thread.
            let reaction: JSON = ["m.relates_to": ["rel_type": "m.annotation", "event_id": .string(reply), "key": "👍"]]
            try await sendJSON(server, bob.token, roomID, reaction, type: "m.reaction")

            #expect(counts(try await server.sync(alice.token), roomID)?["notification_count"] == 3)
            let filter = TestServer.path(#"{"room":{"timeline":{"unread_thread_notifications":true}}}"#)
            let split = try await server.sync(alice.token, "filter=\(filter)")
            #expect(counts(split, roomID)?["notification_count"] == 1)
            #expect(split.json["rooms"]?["join"]?[roomID]?["unread_thread_notifications"]?[root]?["notification_count"] == 2)

            // A threaded receipt clears only its thread.
            let receipt = server.room(roomID, "/receipt/m.read/\(TestServer.path(reply))")
            #expect(try await server.call(.post, receipt, token: alice.token, json: ["thread_id": .string(root)]).status == 200)
            let after = try await server.sync(alice.token, "filter=\(filter)")
            #expect(counts(after, roomID)?["notification_count"] == 1)
            #expect(after.json["rooms"]?["join"]?[roomID]?["unread_thread_notifications"]?[root] == nil)
        }
    }

    @Test func notificationListPagesAndMarksRead() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await threeInARoom(server)
            var ids: [String] = []
            for index in 0..<3 {
                ids.append(try #require(try await server.send(bob.token, roomID, "message \(index)").json["event_id"]?.stringValue))
            }
            try await sendJSON(server, bob.token, roomID, ["msgtype": "m.text", "body": "hey", "m.mentions": ["user_ids": ["@alice:localhost"]]])
            #expect(try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(ids[0]))"), token: alice.token, json: [:]).status == 200)

            let first = try await server.call(.get, "/_matrix/client/v3/notifications?limit=2", token: alice.token)
            #expect(first.status == 200)
            let page = try #require(first.json["notifications"]?.arrayValue)
            #expect(page.map { $0["event"]?["content"]?["body"] } == ["hey", "message 2"])
            #expect(page.first?["room_id"] == .string(roomID))
            #expect(page.first?["read"] == false)
            let token = try #require(first.json["next_token"]?.stringValue)
            let second = try await server.call(.get, "/_matrix/client/v3/notifications?limit=2&from=\(token)", token: alice.token)
            let rest = try #require(second.json["notifications"]?.arrayValue)
            #expect(rest.map { $0["event"]?["content"]?["body"] } == ["message 1", "message 0"])
            #expect(rest.map { $0["read"] } == [false, true])

            let highlights = try await server.call(.get, "/_matrix/client/v3/notifications?only=highlight", token: alice.token)
            #expect(highlights.json["notifications"]?.arrayValue?.count == 1)
            #expect(try await server.call(.get, "/_matrix/client/v3/notifications?from=later", token: alice.token).errcode == "M_INVALID_PARAM")
        }
    }

    /// Most members of a room share one stored outcome per message; it must reach exactly
    /// the members joined before the message, minus those whose own outcome differs.
    @Test func sharedOutcomesFollowMembershipMutesMentionsAndRedactions() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let dave = try await server.register("dave")
            let roomID = try await server.createRoom(alice.token)
            for user in [bob, carol, dave] { try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
            let mute = "/_matrix/client/v3/pushrules/global/room/\(TestServer.path(roomID))"
            #expect(try await server.call(.put, mute, token: dave.token, json: ["actions": []]).status == 200)

            try await server.send(alice.token, roomID, "one")
            for user in [bob, carol] { #expect(counts(try await server.sync(user.token), roomID)?["notification_count"] == 1) }
            #expect(counts(try await server.sync(dave.token), roomID)?["notification_count"] == 0, "a muted member is excluded")

            // A member who joins later does not count what came before.
            let erin = try await server.register("erin")
            try await server.call(.post, server.room(roomID, "/join"), token: erin.token, json: [:])
            #expect(counts(try await server.sync(erin.token), roomID)?["notification_count"] == 0)
            let two = try #require(try await server.send(alice.token, roomID, "two").json["event_id"]?.stringValue)
            #expect(counts(try await server.sync(erin.token), roomID)?["notification_count"] == 1)

            // A mention is bob's own outcome, counted once, not on top of the shared one.
            try await sendJSON(server, alice.token, roomID, ["msgtype": "m.text", "body": "bob?", "m.mentions": ["user_ids": ["@bob:localhost"]]])
            #expect(counts(try await server.sync(bob.token), roomID) == ["notification_count": 3, "highlight_count": 1])

            // A profile change keeps bob's join: his list still has what came before it.
            try await server.call(.put, "/_matrix/client/v3/profile/@bob:localhost/displayname", token: bob.token, json: ["displayname": "Bob"])
            let bobs = try await server.call(.get, "/_matrix/client/v3/notifications", token: bob.token).json["notifications"]?.arrayValue ?? []
            #expect(bobs.map { $0["event"]?["content"]?["body"] } == ["bob?", "two", "one"])

            // Leaving and coming back starts over: nothing from the first stay is listed.
            try await server.call(.post, server.room(roomID, "/leave"), token: carol.token, json: [:])
            try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:])
            try await server.send(alice.token, roomID, "three")
            let carols = try await server.call(.get, "/_matrix/client/v3/notifications", token: carol.token).json["notifications"]?.arrayValue ?? []
            #expect(carols.map { $0["event"]?["content"]?["body"] } == ["three"])
            #expect(counts(try await server.sync(dave.token), roomID)?["notification_count"] == 0)

            // A redacted message no longer counts.
            #expect(counts(try await server.sync(erin.token), roomID)?["notification_count"] == 3)
            let redact = server.room(roomID, "/redact/\(TestServer.path(two))/\(UUID().uuidString)")
            #expect(try await server.call(.put, redact, token: alice.token, json: [:]).status == 200)
            #expect(counts(try await server.sync(erin.token), roomID)?["notification_count"] == 2)
        }
    }

    @Test func invitesNotifyTheInvitee() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "private_chat"])
            #expect(try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@bob:localhost"]).status == 200)
            let list = try await server.call(.get, "/_matrix/client/v3/notifications", token: bob.token)
            #expect(list.json["notifications"]?[0]?["event"]?["content"]?["membership"] == "invite")
        }
    }
}

@Suite struct PusherTests {
    let set = "/_matrix/client/v3/pushers/set"

    func pusher(_ url: String, key: String = "key1", format: String? = nil) -> JSON {
        var data: JSON = ["url": .string(url)]
        if let format { data["format"] = .string(format) }
        return [
            "kind": "http", "app_id": "org.example.app", "pushkey": .string(key), "app_display_name": "App",
            "device_display_name": "Phone", "lang": "en", "data": data,
        ]
    }

    @Test func pushersAreSetListedAndRemoved() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            #expect(try await server.call(.post, set, token: alice.token, json: pusher("https://push.example.org/_matrix/push/v1/notify")).status == 200)
            let list = try await server.call(.get, "/_matrix/client/v3/pushers", token: alice.token)
            #expect(list.json["pushers"]?[0]?["pushkey"] == "key1")
            #expect(list.json["pushers"]?[0]?["data"]?["url"] == "https://push.example.org/_matrix/push/v1/notify")
            #expect(try await server.call(.post, set, token: alice.token, json: ["kind": .null, "app_id": "org.example.app", "pushkey": "key1"]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/pushers", token: alice.token).json["pushers"] == [])
        }
    }

    @Test func pusherErrors() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            var missing = pusher("https://push.example.org/_matrix/push/v1/notify")
            missing["lang"] = nil
            #expect(try await server.call(.post, set, token: alice.token, json: missing).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.post, set, token: alice.token, json: pusher("https://push.example.org/elsewhere")).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, set, token: alice.token, json: pusher("ftp://push.example.org/_matrix/push/v1/notify")).errcode == "M_INVALID_PARAM")
            var email = pusher("https://x/_matrix/push/v1/notify")
            email["kind"] = "email"
            #expect(try await server.call(.post, set, token: alice.token, json: email).errcode == "M_INVALID_PARAM")
            var long = pusher("https://push.example.org/_matrix/push/v1/notify")
            long["app_id"] = .string(String(repeating: "a", count: 65))
            #expect(try await server.call(.post, set, token: alice.token, json: long).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, set, token: alice.token, json: ["app_id": "a", "pushkey": "k"]).errcode == "M_MISSING_PARAM")
            // The server's own network is off limits by default.
            for address in ["http://127.0.0.1:8080", "http://[::1]", "http://10.1.2.3", "http://localhost", "http://169.254.169.254"] {
                let reply = try await server.call(.post, set, token: alice.token, json: pusher(address + "/_matrix/push/v1/notify"))
                #expect(reply.errcode == "M_INVALID_PARAM", "\(address)")
            }
        }
    }

    /// A push gateway on loopback that fails its first request, then accepts and rejects
    /// the pushkey `gone`.
    final class Gateway: Sendable {
        let received = Mutex<[JSON]>([])
        let failuresLeft = Mutex(1)

        func application() -> some ApplicationProtocol {
            let router = Router()
            router.post("/_matrix/push/v1/notify") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                let json = try JSONParser.parse(Array(buffer: body))
                self.received.withLock { $0.append(json) }
                let fail = self.failuresLeft.withLock { left -> Bool in
                    defer { left = max(0, left - 1) }
                    return left > 0
                }
                if fail { return Response(status: .internalServerError) }
                let rejected: JSON = json["notification"]?["devices"]?[0]?["pushkey"] == "gone" ? ["gone"] : []
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: JSON.object(["rejected": rejected]).encodedString())))
            }
            return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        }

        func waitFor(_ count: Int) async throws -> [JSON] {
            for _ in 0..<200 {
                let seen = received.withLock { $0 }
                if seen.count >= count { return seen }
                try await Task.sleep(for: .milliseconds(25))
            }
            return received.withLock { $0 }
        }
    }

    /// A gateway that answers with a redirect: the server must not follow it, since the
    /// target was never checked against the internal-address rules.
    @Test func gatewayRedirectsAreNotFollowed() async throws {
        let hits = Mutex<[String]>([])
        let router = Router()
        router.post("/_matrix/push/v1/notify") { _, context -> Response in
            hits.withLock { $0.append("notify") }
            return Response(status: .found, headers: [.location: "/elsewhere"])
        }
        router.post("/elsewhere") { _, _ -> Response in
            hits.withLock { $0.append("elsewhere") }
            return Response(status: .ok)
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { gatewayClient in
            let url = "http://127.0.0.1:\(gatewayClient.port!)/_matrix/push/v1/notify"
            try await TestServer.run(configure: {
                $0.pushRetryInitialMs = 20
                $0.pushAllowPrivateAddresses = true
            }) { server in
                let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
                #expect(try await server.call(.post, set, token: bob.token, json: pusher(url)).status == 200)
                try await server.send(alice.token, roomID, "ping")
                for _ in 0..<100 where hits.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
                try await Task.sleep(for: .milliseconds(300))
                #expect(hits.withLock { $0 } == ["notify"])
            }
        }
    }

    /// In a room where the members share one stored outcome, each member's pushers still
    /// hear of the message, and a member whose rules silence the room does not.
    @Test func sharedOutcomesReachEachMembersPushers() async throws {
        let gateway = Gateway()
        gateway.failuresLeft.withLock { $0 = 0 }
        try await gateway.application().test(.live) { gatewayClient in
            let url = "http://127.0.0.1:\(gatewayClient.port!)/_matrix/push/v1/notify"
            try await TestServer.run(configure: { $0.pushAllowPrivateAddresses = true }) { server in
                let alice = try await server.register("alice")
                let roomID = try await server.createRoom(alice.token)
                var members: [TestServer.Session] = []
                for name in ["bob", "carol", "dave"] {
                    let member = try await server.register(name)
                    try await server.call(.post, server.room(roomID, "/join"), token: member.token, json: [:])
                    #expect(try await server.call(.post, set, token: member.token, json: pusher(url, key: name)).status == 200)
                    members.append(member)
                }
                let mute = "/_matrix/client/v3/pushrules/global/room/\(TestServer.path(roomID))"
                #expect(try await server.call(.put, mute, token: members[2].token, json: ["actions": []]).status == 200)
                try await server.send(alice.token, roomID, "to everyone")
                let seen = try await gateway.waitFor(2)
                try await Task.sleep(for: .milliseconds(200))
                let keys = gateway.received.withLock { $0 }.compactMap { $0["notification"]?["devices"]?[0]?["pushkey"]?.stringValue }
                #expect(seen.count >= 2)
                #expect(keys.sorted() == ["bob", "carol"], "dave muted the room")
            }
        }
    }

    @Test func notificationsReachThePushGatewayWithRetries() async throws {
        let gateway = Gateway()
        try await gateway.application().test(.live) { gatewayClient in
            let url = "http://127.0.0.1:\(gatewayClient.port!)/_matrix/push/v1/notify"
            try await TestServer.run(configure: {
                $0.pushRetryInitialMs = 20
                $0.pushAllowPrivateAddresses = true
            }) { server in
                let alice = try await server.register("alice")
                let bob = try await server.register("bob")
                let roomID = try await server.createRoom(alice.token)
                try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
                try await server.call(.put, "/_matrix/client/v3/profile/@alice:localhost/displayname", token: alice.token, json: ["displayname": "Alice"])
                #expect(try await server.call(.post, set, token: bob.token, json: pusher(url)).status == 200)
                try await server.send(alice.token, roomID, "ping")

                // The first attempt fails (500) and the retry delivers.
                let seen = try await gateway.waitFor(2)
                #expect(seen.count == 2)
                let notification = try #require(seen.last?["notification"])
                #expect(notification["content"]?["body"] == "ping")
                #expect(notification["sender"] == "@alice:localhost")
                #expect(notification["sender_display_name"] == "Alice")
                #expect(notification["counts"]?["unread"] == 1)
                #expect(notification["devices"]?[0]?["pushkey"] == "key1")
                #expect(notification["devices"]?[0]?["data"]?["url"] == nil, "the gateway's own URL is not echoed")
                #expect(notification["devices"]?[0]?["tweaks"]?["sound"] == "default", "a two-member room rings")

                // event_id_only pushers get no content; a rejected pushkey loses its pusher.
                #expect(try await server.call(.post, set, token: bob.token, json: pusher(url, format: "event_id_only")).status == 200)
                #expect(try await server.call(.post, set, token: bob.token, json: pusher(url, key: "gone")).status == 200)
                try await server.send(alice.token, roomID, "secret")
                let more = try await gateway.waitFor(4)
                let bodies = more.dropFirst(2).compactMap { $0["notification"] }
                #expect(bodies.count == 2)
                let idOnly = bodies.first { $0["devices"]?[0]?["pushkey"] == "key1" }
                #expect(idOnly?["content"] == nil && idOnly?["event_id"] != nil && idOnly?["sender"] == nil)
                #expect(bodies.first { $0["devices"]?[0]?["pushkey"] == "gone" }?["content"]?["body"] == "secret")
                var remaining: [JSON] = []
                for _ in 0..<100 {
                    remaining = try await server.call(.get, "/_matrix/client/v3/pushers", token: bob.token).json["pushers"]?.arrayValue ?? []
                    if remaining.count == 1 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(remaining.map { $0["pushkey"] } == ["key1"])
            }
        }
    }
}

extension JSON {
    /// An array element, or nil when this is not an array or the index is out of range.
    subscript(_ index: Int) -> JSON? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }
}
