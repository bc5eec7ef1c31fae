@testable import AxonServer
import HTTPTypes
import MatrixModel
import Testing

/// Synapse's admin API for moderation: event reports.
@Suite struct AdminModerationTests {
    @Test func eventReportsAreListedReadAndDismissed() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.name"), token: alice.token, json: ["name": "Town square"])
            let first = try #require(try await server.send(alice.token, roomID, "rude").json["event_id"]?.stringValue)
            let second = try #require(try await server.send(alice.token, roomID, "ruder").json["event_id"]?.stringValue)
            for (eventID, reason) in [(first, "offensive"), (second, "worse")] {
                let reply = try await server.call(.post, server.room(roomID, "/report/\(TestServer.path(eventID))"), token: bob.token, json: ["reason": .string(reason)])
                #expect(reply.status == 200)
            }
            _ = try await server.call(.post, server.room(roomID, "/report"), token: bob.token, json: ["reason": "a room report"])
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports", token: bob.token).status == 403)

            let list = try await server.call(.get, "/_synapse/admin/v1/event_reports", token: root)
            #expect(list.json["total"] == 2, "\(list.raw)")
            let newest = try #require(list.json["event_reports"]?[0])
            #expect(newest["event_id"] == .string(second) && newest["reason"] == "worse" && newest["user_id"] == .string(bob.userID))
            #expect(newest["sender"] == .string(alice.userID) && newest["room_id"] == .string(roomID) && newest["name"] == "Town square")
            let oldestFirst = try await server.call(.get, "/_synapse/admin/v1/event_reports?dir=f&limit=1", token: root)
            #expect(oldestFirst.json["event_reports"]?[0]?["event_id"] == .string(first) && oldestFirst.json["next_token"] == 1)
            let bySender = try await server.call(.get, "/_synapse/admin/v1/event_reports?event_sender_user_id=\(TestServer.path(bob.userID))", token: root)
            #expect(bySender.json["total"] == 0)

            let id = try #require(newest["id"]?.intValue)
            let details = try await server.call(.get, "/_synapse/admin/v1/event_reports/\(id)", token: root)
            #expect(details.json["event_json"]?["content"]?["body"] == "ruder" && details.json["event_json"]?["sender"] == .string(alice.userID))
            #expect(try await server.call(.delete, "/_synapse/admin/v1/event_reports/\(id)", token: root).status == 200)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports/\(id)", token: root).status == 404)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports", token: root).json["total"] == 1)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports/x", token: root).status == 400)
        }
    }
}

/// Registration tokens admins create, and the registrations they allow.
@Suite struct AdminRegistrationTokenTests {
    func register(_ server: TestServer, _ username: String, token: String) async throws -> TestServer.Reply {
        let body: JSON = ["username": .string(username), "password": "a long password"]
        let challenge = try await server.call(.post, "/_matrix/client/v3/register", json: body)
        var completed = body
        completed["auth"] = ["type": "m.login.registration_token", "token": .string(token), "session": challenge.json["session"] ?? .null]
        return try await server.call(.post, "/_matrix/client/v3/register", json: completed)
    }

    @Test func tokensAreCreatedLimitedAndUsedUp() async throws {
        try await TestServer.run(configure: { $0.registrationRequiresToken = true }) { server in
            let root = try await server.registerAdmin()
            let base = "/_synapse/admin/v1/registration_tokens"
            let created = try await server.call(.post, base + "/new", token: root, json: ["token": "one-use", "uses_allowed": 1])
            #expect(created.json == ["token": "one-use", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": .null], "\(created.raw)")
            let generated = try await server.call(.post, base + "/new", token: root, json: ["length": 24])
            #expect(generated.json["token"]?.stringValue?.count == 24 && generated.json["uses_allowed"] == .null)
            #expect(try await server.call(.post, base + "/new", token: root, json: ["token": "one-use"]).status == 400)
            #expect(try await server.call(.post, base + "/new", token: root, json: ["token": "bad token!"]).status == 400)
            #expect(try await server.call(.post, base + "/new", token: root, json: ["uses_allowed": -1]).status == 400)
            #expect(try await server.call(.post, base + "/new", token: root, json: ["expiry_time": 1]).status == 400)

            // The flow asks for a token; a wrong one fails, the admin's works once.
            let challenge = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "x", "password": "a long password"])
            #expect(challenge.json["flows"] == [["stages": ["m.login.registration_token"]]])
            let validity = "/_matrix/client/v1/register/m.login.registration_token/validity?token="
            #expect(try await server.call(.get, validity + "one-use").json == ["valid": true])
            #expect(try await register(server, "alice", token: "wrong").status == 401)
            let alice = try await register(server, "alice", token: "one-use")
            #expect(alice.status == 200, "\(alice.raw)")
            #expect(try await server.call(.get, validity + "one-use").json == ["valid": false])
            #expect(try await register(server, "bob", token: "one-use").status == 401)
            let used = try await server.call(.get, base + "/one-use", token: root)
            #expect(used.json["completed"] == 1)

            // More uses, then an expiry; absent keys stay, null lifts a limit.
            let raised = try await server.call(.put, base + "/one-use", token: root, json: ["uses_allowed": 2])
            #expect(raised.json["uses_allowed"] == 2 && raised.json["completed"] == 1)
            #expect(try await register(server, "bob", token: "one-use").status == 200)
            let unlimited = try await server.call(.put, base + "/one-use", token: root, json: ["uses_allowed": .null, "expiry_time": .int(nowMillis() + 60_000)])
            #expect(unlimited.json["uses_allowed"] == .null && unlimited.json["expiry_time"]?.intValue != nil)
            let valid = try await server.call(.get, base + "?valid=true", token: root)
            #expect(valid.json["registration_tokens"]?.arrayValue?.count == 2)
            #expect(try await server.call(.delete, base + "/one-use", token: root).status == 200)
            #expect(try await server.call(.get, base + "/one-use", token: root).status == 404)
            #expect(try await register(server, "carol", token: "one-use").status == 401)
            #expect(try await server.call(.get, base, token: alice.json["access_token"]?.stringValue).status == 403)
        }
    }
}

/// Shadow bans, per-user rate limits, logging in as a user, pushers.
@Suite struct AdminUserModerationTests {
    @Test func aShadowBannedUsersEventsReachNoOne() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let carol = try await server.register("carol")
            let ban = "/_synapse/admin/v1/users/@alice:localhost/shadow_ban"
            #expect(try await server.call(.post, ban, token: bob.token, json: [:]).status == 403)
            #expect(try await server.call(.post, ban, token: root, json: [:]).status == 200)
            #expect(try await server.call(.get, "/_synapse/admin/v2/users/@alice:localhost", token: root).json["shadow_banned"] == true)

            let sent = try await server.send(alice.token, roomID, "nobody hears this")
            #expect(sent.status == 200 && sent.json["event_id"]?.stringValue?.hasPrefix("$") == true)
            let named = try await server.call(.put, server.room(roomID, "/state/m.room.topic"), token: alice.token, json: ["topic": "spam"])
            #expect(named.status == 200)
            let invite = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": .string(carol.userID)])
            #expect(invite.status == 200)
            #expect(server.bodies(try await server.messages(bob.token, roomID)).contains("nobody hears this") == false)
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.topic"), token: bob.token).status == 404)
            #expect(try await server.server.storage.membership(roomID: roomID, userID: carol.userID) == nil)
            let created = try await server.call(.post, "/_matrix/client/v3/createRoom", token: alice.token, json: ["invite": [.string(carol.userID)]])
            let createdRoom = try #require(created.json["room_id"]?.stringValue)
            #expect(try await server.server.storage.membership(roomID: createdRoom, userID: carol.userID) == nil)

            #expect(try await server.call(.delete, ban, token: root).status == 200)
            try await server.send(alice.token, roomID, "heard again")
            #expect(server.bodies(try await server.messages(bob.token, roomID)).contains("heard again"))
        }
    }

    @Test func aUsersOwnRateLimitReplacesTheServers() async throws {
        try await TestServer.run(configure: {
            $0.rateLimitsEnabled = true
            $0.rateLimits[.message] = RateLimitSettings(perSecond: 0.01, burst: 2)
            $0.rateLimits[.registration] = RateLimitSettings(perSecond: 100, burst: 100)
        }) { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let path = "/_synapse/admin/v1/users/@alice:localhost/override_ratelimit"
            #expect(try await server.call(.get, path, token: root).json == [:])
            #expect(try await server.call(.post, path, token: root, json: ["messages_per_second": 0, "burst_count": 0]).json == [
                "messages_per_second": 0, "burst_count": 0,
            ])
            for index in 0..<5 { #expect(try await server.send(alice.token, roomID, "m\(index)").status == 200) }
            var limited = false
            for index in 0..<5 where try await server.send(bob.token, roomID, "b\(index)").status == 429 { limited = true }
            #expect(limited)
            #expect(try await server.call(.get, path, token: root).json == ["messages_per_second": 0, "burst_count": 0])
            #expect(try await server.call(.post, path, token: root, json: ["messages_per_second": -1]).status == 400)
            #expect(try await server.call(.delete, path, token: root).status == 200)
            #expect(try await server.call(.get, path, token: root).json == [:])
            #expect(try await server.call(.get, "/_synapse/admin/v1/users/@nobody:localhost/override_ratelimit", token: root).status == 404)
        }
    }

    @Test func anAdminLogsInAsAUserAndReadsTheirPushers() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let set = try await server.call(
                .post, "/_matrix/client/v3/pushers/set", token: alice.token, json: TestServer.httpPusher("https://push.example.org/_matrix/push/v1/notify"))
            #expect(set.status == 200, "\(set.raw)")
            let pushers = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/pushers", token: root)
            #expect(pushers.json["total"] == 1 && pushers.json["pushers"]?[0]?["app_id"] == "org.example.app", "\(pushers.raw)")

            let login = try await server.call(.post, "/_synapse/admin/v1/users/@alice:localhost/login", token: root, json: [:])
            let token = try #require(login.json["access_token"]?.stringValue, "\(login.raw)")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: token).json["user_id"] == "@alice:localhost")
            let devices = try await server.call(.get, "/_matrix/client/v3/devices", token: alice.token)
            #expect(devices.json["devices"]?.arrayValue?.contains { $0["display_name"] == "Admin login by @root:localhost" } == true)
            #expect(try await server.call(.post, "/_synapse/admin/v1/users/@root:localhost/login", token: root, json: [:]).status == 400)
            #expect(try await server.call(.post, "/_synapse/admin/v1/users/@alice:localhost/login", token: root, json: ["valid_until_ms": 1]).status == 400)
            #expect(try await server.call(.post, "/_synapse/admin/v1/users/@alice:localhost/login", token: alice.token, json: [:]).status == 403)
        }
    }
}

/// Server notices: a room per recipient, tagged, which the recipient reads and cannot write in.
@Suite struct ServerNoticeTests {
    @Test func noticesArriveInOneTaggedRoomPerUser() async throws {
        try await TestServer.run(configure: { $0.serverNoticesLocalpart = "notices" }) { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let notice: JSON = ["user_id": .string(alice.userID), "content": ["msgtype": "m.text", "body": "Maintenance at noon"]]
            #expect(try await server.call(.post, "/_synapse/admin/v1/send_server_notice", token: alice.token, json: notice).status == 403)
            let sent = try await server.call(.post, "/_synapse/admin/v1/send_server_notice", token: root, json: notice)
            #expect(sent.json["event_id"]?.stringValue != nil, "\(sent.raw)")

            let sync = try await server.call(.get, "/_matrix/client/v3/sync", token: alice.token)
            let invites = sync.json["rooms"]?["invite"]?.objectValue ?? [:]
            let roomID = try #require(invites.keys.first, "\(sync.raw)")
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: alice.token, json: [:]).status == 200)
            let tags = try await server.call(.get, "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/tags", token: alice.token)
            #expect(tags.json["tags"]?["m.server_notice"] != nil, "\(tags.raw)")
            #expect(server.bodies(try await server.messages(alice.token, roomID)).contains("Maintenance at noon"))
            #expect(try await server.send(alice.token, roomID, "reply").status == 403)

            // The next notice goes to the same room; the notices user's name cannot be registered.
            let again = try await server.call(.put, "/_synapse/admin/v1/send_server_notice/t1", token: root, json: notice)
            #expect(again.status == 200)
            #expect(server.bodies(try await server.messages(alice.token, roomID)).filter { $0 == "Maintenance at noon" }.count == 2)
            let taken = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "notices", "password": "a long password"])
            #expect(taken.errcode == "M_USER_IN_USE")
            #expect(try await server.call(.post, "/_synapse/admin/v1/send_server_notice", token: root, json: ["user_id": "@ghost:localhost", "content": [:]]).status == 400)
        }
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let off = try await server.call(.post, "/_synapse/admin/v1/send_server_notice", token: root, json: ["user_id": "@root:localhost", "content": [:]])
            #expect(off.status == 400)
        }
    }
}

extension AdminUserModerationTests {
    @Test func anAdminReadsAUsersAccountDataAndFindsEventsByTime() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, _, roomID) = try await server.aliceAndBobInARoom()
            _ = try await server.call(.put, "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.settings", token: alice.token, json: ["theme": "dark"])
            _ = try await server.call(.put, "/_matrix/client/v3/user/@alice:localhost/rooms/\(TestServer.path(roomID))/tags/u.work", token: alice.token, json: [:])
            let data = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/accountdata", token: root)
            #expect(data.json["account_data"]?["global"]?["org.example.settings"] == ["theme": "dark"], "\(data.raw)")
            #expect(data.json["account_data"]?["rooms"]?[roomID]?["m.tag"]?["tags"]?["u.work"] != nil)

            let sent = try #require(try await server.send(alice.token, roomID, "at a time").json["event_id"]?.stringValue)
            let found = try await server.call(
                .get, "/_synapse/admin/v1/rooms/\(TestServer.path(roomID))/timestamp_to_event?ts=\(nowMillis() + 60_000)&dir=b", token: root)
            #expect(found.json["event_id"] == .string(sent), "\(found.raw)")
        }
    }
}

extension AdminUserModerationTests {
    @Test func sentInvitesAndRoomsEverJoinedAreCounted() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let carol = try await server.register("carol")
            let before = nowMillis()
            let other = try await server.createRoom(alice.token, ["preset": "private_chat"])
            _ = try await server.call(.post, server.room(other, "/invite"), token: alice.token, json: ["user_id": .string(carol.userID)])
            _ = try await server.call(.post, server.room(other, "/invite"), token: alice.token, json: ["user_id": .string(bob.userID)])
            let invites = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/sent_invite_count?from_ts=\(before)", token: root)
            #expect(invites.json == ["invite_count": 2], "\(invites.raw)")
            let later = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/sent_invite_count?from_ts=\(nowMillis() + 60_000)", token: root)
            #expect(later.json == ["invite_count": 0])
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            let joined = try await server.call(.get, "/_synapse/admin/v1/users/@bob:localhost/cumulative_joined_room_count", token: root)
            #expect(joined.json == ["cumulative_joined_room_count": 1], "left rooms still count: \(joined.raw)")
            #expect(try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/cumulative_joined_room_count", token: root).json == [
                "cumulative_joined_room_count": 2,
            ])
        }
    }
}
