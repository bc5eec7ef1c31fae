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
