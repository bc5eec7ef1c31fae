import AxonServer
import Foundation
import MatrixModel
import Testing

/// Client-visible conformance fixes (issue 12), each failing before its fix.
@Suite struct ConformanceTests {
    @Test func ownProfileChangeIsNotANewJoin() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            for index in 0..<5 { try await server.send(alice.token, roomID, "m\(index)") }
            let first = try await server.sync(alice.token)
            let since = try #require(first.json["next_batch"]?.stringValue)
            _ = try await server.call(
                .put, "/_matrix/client/v3/profile/\(TestServer.path(alice.userID))/displayname", token: alice.token, json: ["displayname": "Alice"])
            let next = try await server.sync(alice.token, "since=\(since)")
            let timeline = try #require(next.json["rooms"]?["join"]?[roomID]?["timeline"])
            #expect(timeline["events"]?.arrayValue?.map { $0["type"] } == ["m.room.member"])
            #expect(timeline["limited"] == false)
            #expect(!next.raw.contains("m.room.create"))
        }
    }

    @Test func ephemeralEventsInSyncCarryNoRoomID() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let eventID = try #require(try await server.send(alice.token, roomID, "hi").json["event_id"]?.stringValue)
            _ = try await server.call(.put, server.room(roomID, "/typing/\(TestServer.path(alice.userID))"), token: alice.token, json: ["typing": true, "timeout": 30000])
            _ = try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(eventID))"), token: alice.token, json: [:])
            let ephemeral = try await server.sync(alice.token).json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?.arrayValue ?? []
            #expect(Set(ephemeral.compactMap { $0["type"]?.stringValue }) == ["m.typing", "m.receipt"])
            #expect(ephemeral.allSatisfy { $0["room_id"] == nil })
        }
    }

    @Test func kickingABannedUserIsRefused() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": .string(bob.userID)])
            #expect(try await server.call(.post, server.room(roomID, "/kick"), token: alice.token, json: ["user_id": .string(bob.userID)]).status == 403)
            let member = try await server.call(.get, server.room(roomID, "/state/m.room.member/\(TestServer.path(bob.userID))"), token: alice.token)
            #expect(member.json["membership"] == "ban")
        }
    }

    @Test func legacySendWithoutTransactionAndUnstableKeyPaths() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let sent = try await server.call(
                .post, "/_matrix/client/r0/rooms/\(TestServer.path(roomID))/send/m.room.message", token: alice.token,
                json: ["msgtype": "m.text", "body": "old style"])
            #expect(sent.json["event_id"] != nil)
            #expect(server.bodies(try await server.messages(alice.token, roomID)) == ["old style"])
            for path in ["keys/device_signing/upload", "keys/signatures/upload"] {
                let reply = try await server.call(.post, "/_matrix/client/unstable/\(path)", token: alice.token, json: [:])
                #expect(reply.errcode != "M_UNRECOGNIZED", "\(path): \(reply.raw)")
            }
        }
    }

    @Test func usernamesWithCapitalsAreLowercased() async throws {
        try await TestServer.run { server in
            let session = try await server.register("MixedCase")
            #expect(session.userID == "@mixedcase:localhost")
            #expect(try await server.login("MixedCase").status == 200)
        }
    }

    @Test func identicalStateAndRepeatedJoinsMakeNoNewEvent() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            let path = server.room(roomID, "/state/m.room.topic")
            let first = try await server.call(.put, path, token: alice.token, json: ["topic": "same"])
            let second = try await server.call(.put, path, token: alice.token, json: ["topic": "same"])
            #expect(first.json["event_id"] != nil && first.json["event_id"] == second.json["event_id"])
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let before = try await server.messages(bob.token, roomID, query: "dir=b&limit=50").json["chunk"]?.arrayValue?.count
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:]).status == 200)
            #expect(try await server.messages(bob.token, roomID, query: "dir=b&limit=50").json["chunk"]?.arrayValue?.count == before)
        }
    }

    @Test func joinBodyContentIsKept() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: ["org.example.pronouns": "they", "reason": "hi"])
            let member = try await server.call(.get, server.room(roomID, "/state/m.room.member/\(TestServer.path(bob.userID))"), token: alice.token)
            #expect(member.json["org.example.pronouns"] == "they")
            #expect(member.json["reason"] == "hi")
            #expect(member.json["membership"] == "join")
        }
    }

    @Test func pushRulePathsListKindsAndRefuseMalformedAddresses() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let base = "/_matrix/client/v3/pushrules"
            let overrides = try await server.call(.get, "\(base)/global/override/", token: alice.token)
            #expect(overrides.json.arrayValue?.contains { $0["rule_id"] == ".m.rule.master" } == true)
            for (method, path) in [("GET", "/device/override/x"), ("PUT", "/device/override/x"), ("GET", "/global/override/.m.rule.master/colour")] {
                let reply = try await server.call(.init(method)!, base + path, token: alice.token, json: method == "PUT" ? ["actions": []] : nil)
                #expect(reply.status == 400, "\(method) \(path)")
                #expect(reply.errcode == "M_INVALID_PARAM")
            }
            #expect(try await server.call(.get, "\(base)/global/nokind/x", token: alice.token).status == 404)
        }
    }

    @Test func legacyEventsRefusesBadLimitsAtOnce() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            for query in ["limit=ten", "limit=-1", "timeout=-1", "timeout=soon"] {
                let reply = try await server.call(.get, "/_matrix/client/v3/events?\(query)", token: alice.token)
                #expect(reply.status == 400, "\(query)")
            }
            #expect(try await server.call(.get, "/_matrix/client/v3/events?limit=5&timeout=0", token: alice.token).status == 200)
        }
    }
}

@Suite struct ConformanceSyncTests {
    @Test func aRoomJoinedAndLeftInOneBatchComesWithItsState() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Brief"])
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            let left = try #require(try await server.sync(bob.token, "since=\(since)").json["rooms"]?["leave"]?[roomID])
            let types = Set(left["state"]?["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? [])
            #expect(types.isSuperset(of: ["m.room.create", "m.room.name", "m.room.power_levels"]), "\(types)")
        }
    }

    @Test func heroesOnlyForUnnamedRooms() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let named = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Named"])
            let unnamed = try await server.createRoom(alice.token, ["preset": "public_chat"])
            for room in [named, unnamed] { _ = try await server.call(.post, server.room(room, "/join"), token: bob.token, json: [:]) }
            let sync = try await server.sync(alice.token)
            #expect(sync.json["rooms"]?["join"]?[named]?["summary"]?["m.heroes"] == nil)
            #expect(sync.json["rooms"]?["join"]?[unnamed]?["summary"]?["m.heroes"] == [.string(bob.userID)])
        }
    }

    @Test func ignoredUsersLeaveNoEmptyRoomEntry() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/account_data/m.ignored_user_list", token: alice.token,
                json: ["ignored_users": [.init(stringLiteral: bob.userID): [:]]])
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            try await server.send(bob.token, roomID, "ignored")
            let next = try await server.sync(alice.token, "since=\(since)")
            #expect(next.json["rooms"]?["join"]?[roomID] == nil, "\(next.raw)")
        }
    }

    @Test func devicesOfRoomPeersShowUpAsChanged() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            var since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            func changed() async throws -> [JSON] {
                let reply = try await server.sync(alice.token, "since=\(since)")
                since = reply.json["next_batch"]?.stringValue ?? since
                return reply.json["device_lists"]?["changed"]?.arrayValue ?? []
            }
            let login = try await server.login(bob.userID, device: "PHONE")
            #expect(login.status == 200)
            #expect(try await changed().contains(.string(bob.userID)), "a new login")
            _ = try await server.call(.put, "/_matrix/client/v3/devices/PHONE", token: bob.token, json: ["display_name": "Bob's phone"])
            #expect(try await changed().contains(.string(bob.userID)), "a renamed device")
        }
    }

    @Test func canonicalAliasesMustPointHere() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["room_alias_name": "here"])
            let other = try await server.createRoom(alice.token, ["room_alias_name": "there"])
            _ = other
            let path = server.room(roomID, "/state/m.room.canonical_alias")
            #expect(try await server.call(.put, path, token: alice.token, json: ["alias": "#nowhere:localhost"]).errcode == "M_BAD_ALIAS")
            #expect(try await server.call(.put, path, token: alice.token, json: ["alias": "#there:localhost"]).errcode == "M_BAD_ALIAS")
            #expect(try await server.call(.put, path, token: alice.token, json: ["alias": "#here:localhost", "alt_aliases": ["#there:localhost"]]).errcode == "M_BAD_ALIAS")
            _ = try await server.call(.put, "/_matrix/client/v3/directory/room/%23extra%3Alocalhost", token: alice.token, json: ["room_id": .string(roomID)])
            #expect(try await server.call(.put, path, token: alice.token, json: ["alias": "#here:localhost", "alt_aliases": ["#extra:localhost"]]).status == 200)
            _ = try await server.call(.delete, "/_matrix/client/v3/directory/room/%23extra%3Alocalhost", token: alice.token)
            _ = try await server.call(.delete, "/_matrix/client/v3/directory/room/%23here%3Alocalhost", token: alice.token)
            let after = try await server.call(.get, path, token: alice.token)
            #expect(after.json["alias"] == nil)
            #expect(after.json["alt_aliases"] == [])
        }
    }

    @Test func uiaSessionsAreBoundToTheirDevicesAndUser() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            _ = try await server.register("bob")
            _ = try await server.login(alice.userID, device: "A")
            _ = try await server.login(alice.userID, device: "B")
            let started = try await server.call(.delete, "/_matrix/client/v3/devices/A", token: alice.token, json: [:])
            let session = try #require(started.json["session"])
            let other = try await server.call(
                .delete, "/_matrix/client/v3/devices/B", token: alice.token, json: ["auth": server.passwordAuth(alice.userID, session: session)])
            #expect(other.status == 403, "\(other.raw)")
            let wrongUser = try await server.call(
                .delete, "/_matrix/client/v3/devices/A", token: alice.token, json: ["auth": server.passwordAuth("bob", session: session)])
            #expect(wrongUser.status == 403)
            let wrongPassword = try await server.call(
                .delete, "/_matrix/client/v3/devices/A", token: alice.token, json: ["auth": server.passwordAuth(alice.userID, "nope", session: session)])
            #expect(wrongPassword.status == 401)
            #expect(wrongPassword.json["completed"] == [])
        }
    }
}

@Suite struct OpenIDTests {
    @Test func openIDTokensAreIssuedForOneselfAndStoredHashed() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let path = "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/openid/request_token"
            let reply = try await server.call(.post, path, token: alice.token, json: [:])
            #expect(reply.status == 200)
            #expect(reply.json["token_type"] == "Bearer")
            #expect(reply.json["matrix_server_name"] == "localhost")
            #expect(reply.json["expires_in"] == 3600)
            let token = try #require(reply.json["access_token"]?.stringValue)
            let hash = ProtocolTests.sha256Hex(token)
            #expect(try await server.server.storage.openIDTokenUser(tokenHash: hash, now: Int64(Date().timeIntervalSince1970 * 1000)) == alice.userID)
            #expect(try await server.server.storage.openIDTokenUser(tokenHash: hash, now: Int64(Date().timeIntervalSince1970 * 1000) + 3_601_000) == nil)
            #expect(try await server.call(.post, path, token: bob.token, json: [:]).status == 403)
        }
    }
}

@Suite struct LegacyInitialSyncTests {
    @Test func initialSyncCarriesPresenceAndReceipts() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let eventID = try #require(try await server.send(alice.token, roomID, "read me").json["event_id"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(eventID))"), token: bob.token, json: [:])
            _ = try await server.call(
                .put, "/_matrix/client/v3/presence/\(TestServer.path(bob.userID))/status", token: bob.token, json: ["presence": "online"])
            let global = try await server.call(.get, "/_matrix/client/v3/initialSync", token: alice.token)
            #expect(global.json["presence"]?.arrayValue?.contains { $0["sender"] == .string(bob.userID) } == true)
            let room = global.json["rooms"]?.arrayValue?.first { $0["room_id"] == .string(roomID) }
            #expect(room?["receipts"]?[0]?["content"]?[eventID]?["m.read"]?[bob.userID] != nil)
            let single = try await server.call(.get, server.room(roomID, "/initialSync"), token: alice.token)
            #expect(single.json["presence"]?.arrayValue?.contains { $0["sender"] == .string(bob.userID) } == true)
            #expect(single.json["receipts"]?.arrayValue?.count == 1)
        }
    }
}

@Suite struct RegistrationSessionTests {
    @Test func theCompletingRequestNeedsOnlyTheSession() async throws {
        try await TestServer.run { server in
            let first = try await server.call(
                .post, "/_matrix/client/v3/register",
                json: ["username": "carol", "password": "a secret", "device_id": "CAROLPHONE", "initial_device_display_name": "Phone"])
            #expect(first.status == 401)
            let session = try #require(first.json["session"])
            let done = try await server.call(.post, "/_matrix/client/v3/register", json: ["auth": ["type": "m.login.dummy", "session": session]])
            #expect(done.status == 200, "\(done.raw)")
            #expect(done.json["user_id"] == "@carol:localhost")
            #expect(done.json["device_id"] == "CAROLPHONE")
            #expect(try await server.login("carol", password: "a secret").status == 200)
            // A client that lost the answer repeats the request: same account, a working token.
            let replay = try await server.call(.post, "/_matrix/client/v3/register", json: ["auth": ["type": "m.login.dummy", "session": session]])
            #expect(replay.status == 200, "\(replay.raw)")
            #expect(replay.json["user_id"] == "@carol:localhost")
            let token = try #require(replay.json["access_token"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: token).json["user_id"] == "@carol:localhost")
            let other = try await server.call(
                .post, "/_matrix/client/v3/register", json: ["username": "mallory", "auth": ["type": "m.login.dummy", "session": session]])
            #expect(other.status == 403)
        }
    }
}

@Suite struct GuestAccessTests {
    func guest(_ server: TestServer) async throws -> (token: String, userID: String) {
        let reply = try await server.call(.post, "/_matrix/client/v3/register?kind=guest", json: [:])
        return (try #require(reply.json["access_token"]?.stringValue), try #require(reply.json["user_id"]?.stringValue))
    }

    @Test func guestsJoinCanJoinRoomsAndAreRemovedWhenAccessEnds() async throws {
        try await TestServer.run(configure: { $0.allowGuestAccess = true }) { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "initial_state": [["type": "m.room.guest_access", "content": ["guest_access": "can_join"]]]])
            let closed = try await server.createRoom(alice.token)
            let (token, userID) = try await guest(server)
            #expect(try await server.call(.post, server.room(closed, "/join"), token: token, json: [:]).errcode == "M_GUEST_ACCESS_FORBIDDEN")
            #expect(try await server.call(.post, server.room(roomID, "/join"), token: token, json: [:]).status == 200)
            #expect(try await server.send(token, roomID, "hello from a guest").status == 200)
            let named = try await server.call(
                .put, "/_matrix/client/v3/profile/\(TestServer.path(userID))/displayname", token: token, json: ["displayname": "Visitor"])
            #expect(named.status == 200)
            let member = try await server.call(.get, server.room(roomID, "/state/m.room.member/\(TestServer.path(userID))"), token: alice.token)
            #expect(member.json["displayname"] == "Visitor")
            #expect(try await server.sync(token).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/events?timeout=0", token: token).status == 200)
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.guest_access"), token: alice.token, json: ["guest_access": "forbidden"])
            let left = try await server.call(.get, server.room(roomID, "/state/m.room.member/\(TestServer.path(userID))"), token: alice.token)
            #expect(left.json["membership"] == "leave")
        }
    }

    @Test func aGuestUpgradesKeepingItsUserID() async throws {
        try await TestServer.run(configure: { $0.allowGuestAccess = true }) { server in
            let (token, userID) = try await guest(server)
            let upgraded = try await server.call(
                .post, "/_matrix/client/v3/register", token: token,
                json: ["username": "ignored", "password": "now a real account", "auth": ["type": "m.login.dummy"]])
            #expect(upgraded.status == 200, "\(upgraded.raw)")
            #expect(upgraded.json["user_id"] == .string(userID))
            let newToken = try #require(upgraded.json["access_token"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: newToken).json["is_guest"] == false)
            #expect(try await server.call(.get, "/_matrix/client/v3/devices", token: newToken).status == 200)
            #expect(try await server.login(userID, password: "now a real account").status == 200)
        }
    }
}

@Suite struct JoinPresenceTests {
    @Test func joiningARoomBringsItsMembersPresence() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            _ = try await server.call(
                .put, "/_matrix/client/v3/presence/\(TestServer.path(alice.userID))/status", token: alice.token,
                json: ["presence": "online", "status_msg": "around"])
            let since = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            let next = try await server.sync(bob.token, "since=\(since)")
            let events = next.json["presence"]?["events"]?.arrayValue ?? []
            #expect(events.contains { $0["sender"] == .string(alice.userID) && $0["content"]?["status_msg"] == "around" }, "\(next.raw)")
        }
    }
}

@Suite struct NotificationProfileTagTests {
    @Test func notificationsCarryThePushersProfileTag() async throws {
        // No delivery is attempted: this test is about the listing.
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let pusher = TestServer.httpPusher("https://push.example.org/_matrix/push/v1/notify", profileTag: "phone-profile")
            #expect(try await server.call(.post, "/_matrix/client/v3/pushers/set", token: bob.token, json: pusher).status == 200)
            try await server.send(alice.token, roomID, "ping")
            let listed = try await server.call(.get, "/_matrix/client/v3/notifications", token: bob.token)
            #expect(listed.json["notifications"]?[0]?["profile_tag"] == "phone-profile", "\(listed.raw)")
        }
    }
}

@Suite struct DepartedRoomInitialSyncTests {
    @Test func aDepartedRoomShowsItsMessagesUpToTheLeave() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            try await server.send(alice.token, roomID, "before")
            _ = try await server.call(.post, server.room(roomID, "/leave"), token: bob.token, json: [:])
            try await server.send(alice.token, roomID, "after")
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.topic"), token: alice.token, json: ["topic": "later"])
            let initial = try await server.call(.get, server.room(roomID, "/initialSync"), token: bob.token)
            #expect(initial.status == 200)
            #expect(initial.json["membership"] == "leave")
            let chunk = initial.json["messages"]?["chunk"]?.arrayValue ?? []
            #expect(chunk.compactMap { $0["content"]?["body"]?.stringValue } == ["before"])
            #expect(chunk.last?["content"]?["membership"] == "leave")
            #expect(!(initial.json["state"]?.arrayValue ?? []).contains { $0["type"] == "m.room.topic" })
        }
    }
}
