import Foundation
import MatrixModel
import Testing

@Suite struct LazyLoadingTests {
    static let filter = TestServer.path(#"{"room":{"timeline":{"limit":10},"state":{"lazy_load_members":true}}}"#)
    static let redundant = TestServer.path(
        #"{"room":{"timeline":{"limit":10},"state":{"lazy_load_members":true,"include_redundant_members":true}}}"#)

    func memberKeys(_ sync: TestServer.Reply, _ roomID: String) -> Set<String> {
        Set(
            sync.json["rooms"]?["join"]?[roomID]?["state"]?["events"]?.arrayValue?
                .compactMap { $0["type"] == "m.room.member" ? $0["state_key"]?.stringValue : nil } ?? [])
    }

    @Test func membersAlreadySentToTheDeviceAreNotSentAgain() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            for i in 1...10 { try await server.send(bob.token, roomID, "first \(i)") }
            let initial = try await server.sync(alice.token, "filter=\(Self.filter)")
            #expect(memberKeys(initial, roomID) == [alice.userID, bob.userID], "\(initial.raw)")
            try await server.send(bob.token, roomID, "second")
            let next = try await server.sync(alice.token, "filter=\(Self.filter)&since=\(initial.json["next_batch"]!.stringValue!)")
            #expect(server.timelineBodies(next, roomID) == ["second"])
            #expect(memberKeys(next, roomID).isEmpty, "\(next.raw)")
            // Asked for, redundant members come anyway.
            try await server.send(bob.token, roomID, "third")
            let again = try await server.sync(alice.token, "filter=\(Self.redundant)&since=\(next.json["next_batch"]!.stringValue!)")
            #expect(memberKeys(again, roomID).contains(bob.userID))
            // The record is per device: a second device of Alice's is told about Bob.
            let other = try #require(try await server.login("alice", device: "OTHER").json["access_token"]?.stringValue)
            let otherInitial = try await server.sync(other, "filter=\(Self.filter)")
            #expect(memberKeys(otherInitial, roomID).contains(bob.userID))
        }
    }

    @Test func aGappedSyncCarriesTheGapsMembershipChanges() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let dave = try await server.register("dave")
            let roomID = try await server.createRoom(alice.token)
            for user in [bob, carol] { _ = try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
            for i in 1...10 { try await server.send(bob.token, roomID, "b\(i)") }
            let initial = try await server.sync(alice.token, "filter=\(Self.filter)")
            #expect(memberKeys(initial, roomID) == [alice.userID, bob.userID])
            _ = try await server.call(.post, server.room(roomID, "/join"), token: dave.token, json: [:])
            for i in 1...10 { try await server.send(carol.token, roomID, "c\(i)") }
            let gapped = try await server.sync(alice.token, "filter=\(Self.filter)&since=\(initial.json["next_batch"]!.stringValue!)")
            #expect(gapped.json["rooms"]?["join"]?[roomID]?["timeline"]?["limited"] == true)
            // Carol speaks in the timeline; Dave joined in the gap. Bob was sent already.
            #expect(memberKeys(gapped, roomID) == [carol.userID, dave.userID], "\(gapped.raw)")
        }
    }
}

@Suite struct ErasureTests {
    @Test func erasedUsersMessagesAreRedactedForThoseWhoJoinLater() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            try await server.send(bob.token, roomID, "something to forget")
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/\(TestServer.path(bob.userID))/account_data/org.example.secret", token: bob.token,
                json: ["kept": false])
            let challenge = try await server.call(.post, "/_matrix/client/v3/account/deactivate", token: bob.token, json: ["erase": true])
            let done = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: bob.token,
                json: ["erase": true, "auth": server.passwordAuth("bob", session: challenge.json["session"])])
            #expect(done.status == 200, "\(done.raw)")
            #expect(try await server.server.storage.accountData(userID: bob.userID, roomID: nil, type: "org.example.secret") == nil)
            // Alice was there when Bob spoke: she still sees what he said.
            #expect(server.bodies(try await server.messages(alice.token, roomID)).contains("something to forget"))
            // Carol joins afterwards and reads the shared history: Bob's message is redacted.
            let carol = try await server.register("carol")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: carol.token, json: [:])
            let history = try await server.messages(carol.token, roomID)
            let bobs = history.json["chunk"]?.arrayValue?.filter { $0["sender"] == .string(bob.userID) && $0["type"] == "m.room.message" } ?? []
            #expect(bobs.count == 1)
            #expect(bobs.first?["content"] == [:], "\(history.raw)")
            #expect(!server.bodies(history).contains("something to forget"))
            let event = try await server.call(.get, server.room(roomID, "/event/\(TestServer.path(bobs[0]["event_id"]!.stringValue!))"), token: carol.token)
            #expect(event.json["content"] == [:])
            // Without `erase`, deactivation keeps what was said readable.
            let dave = try await server.register("dave")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: dave.token, json: [:])
            try await server.send(dave.token, roomID, "dave was here")
            let daveChallenge = try await server.call(.post, "/_matrix/client/v3/account/deactivate", token: dave.token, json: [:])
            _ = try await server.call(
                .post, "/_matrix/client/v3/account/deactivate", token: dave.token,
                json: ["auth": server.passwordAuth("dave", session: daveChallenge.json["session"])])
            let erin = try await server.register("erin")
            _ = try await server.call(.post, server.room(roomID, "/join"), token: erin.token, json: [:])
            #expect(server.bodies(try await server.messages(erin.token, roomID)).contains("dave was here"))
            #expect(!server.bodies(try await server.messages(erin.token, roomID)).contains("something to forget"))
        }
    }
}

@Suite struct InvalidFilterTests {
    static let invalid: [JSON] = [
        ["presence": "not an object"],
        ["room": ["timeline": "not an object"]],
        ["room": ["state": ["lazy_load_members": "true"]]],
        ["room": ["state": ["include_redundant_members": 1]]],
        ["event_format": "other"],
        ["event_fields": "content.body"],
        ["room": ["not_rooms": "!a:localhost"]],
        ["room": ["rooms": ["not a room"]]],
        ["room": ["timeline": ["senders": ["alice"]]]],
        ["room": ["timeline": ["types": [1]]]],
        ["room": ["timeline": ["limit": -1]]],
        ["account_data": ["not_types": [["nested"]]]],
    ]

    @Test(arguments: invalid)
    func malformedFiltersAreRefused(filter: JSON) async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let created = try await server.call(.post, "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/filter", token: alice.token, json: filter)
            #expect(created.status == 400, "\(filter.encodedString()): \(created.raw)")
            #expect(created.errcode == "M_BAD_JSON" || created.errcode == "M_INVALID_PARAM")
            let inline = try await server.sync(alice.token, "filter=\(TestServer.path(filter.encodedString()))")
            #expect(inline.status == 400)
        }
    }
}
