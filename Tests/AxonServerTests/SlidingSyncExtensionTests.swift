import Foundation
import MatrixModel
import Testing

@Suite struct SlidingSyncExtensionTests {
    /// The "encryption" connection Element X keeps beside its room list.
    func encryptionBody(since: String? = nil) -> JSON {
        var toDevice: JSON = ["enabled": true]
        if let since { toDevice["since"] = .string(since) }
        return ["conn_id": "encryption", "extensions": ["to_device": toDevice, "e2ee": ["enabled": true]]]
    }

    @Test func toDeviceDeliversAndAcknowledges() async throws {
        try await TestServer.run { server in
            let (alice, bob, _) = try await server.aliceAndBobInARoom()
            let first = try await server.slidingSync(bob.token, encryptionBody())
            #expect(first.json["extensions"]?["to_device"]?["events"] == [])
            _ = try await server.call(
                .put, "/_matrix/client/v3/sendToDevice/m.test/t1", token: alice.token,
                json: ["messages": ["@bob:localhost": [.init(stringLiteral: bob.deviceID): ["n": 1]]]])
            let delivered = try await server.slidingSync(bob.token, encryptionBody(), pos: first.pos, timeout: 5000)
            let events = delivered.json["extensions"]?["to_device"]?["events"]?.arrayValue ?? []
            #expect(events.count == 1)
            #expect(events.first?["sender"] == "@alice:localhost")
            #expect(events.first?["content"] == ["n": 1])
            let nextBatch = try #require(delivered.json["extensions"]?["to_device"]?["next_batch"]?.stringValue)
            // Not acknowledged yet: the same since gives it again; the new since does not.
            let again = try await server.slidingSync(bob.token, encryptionBody(), pos: delivered.pos)
            #expect(again.json["extensions"]?["to_device"]?["events"]?.arrayValue?.count == 1)
            let acknowledged = try await server.slidingSync(bob.token, encryptionBody(since: nextBatch), pos: again.pos)
            #expect(acknowledged.json["extensions"]?["to_device"]?["events"] == [])
            #expect(try await server.slidingSync(bob.token, encryptionBody(since: "soon")).errcode == "M_INVALID_PARAM")
        }
    }

    @Test func e2eeCountsAndDeviceLists() async throws {
        try await TestServer.run { server in
            let (_, bob, _) = try await server.aliceAndBobInARoom()
            _ = try await server.call(
                .post, "/_matrix/client/v3/keys/upload", token: bob.token,
                json: [
                    "one_time_keys": ["signed_curve25519:AAAA": ["key": "k1"], "signed_curve25519:AAAB": ["key": "k2"]],
                    "fallback_keys": ["signed_curve25519:FFFF": ["key": "f", "fallback": true]],
                ])
            let first = try await server.slidingSync(bob.token, encryptionBody())
            let e2ee = first.json["extensions"]?["e2ee"]
            #expect(e2ee?["device_one_time_keys_count"] == ["signed_curve25519": 2])
            #expect(e2ee?["device_unused_fallback_key_types"] == ["signed_curve25519"])
            // Alice gets a new device: Bob, who shares a room with her, must re-fetch her keys.
            let device = TestDevice(try #require(try? await server.loginSession("alice", device: "ALICENEW")))
            _ = try await server.call(.post, "/_matrix/client/v3/keys/upload", token: device.session.token, json: ["device_keys": .object(device.deviceKeys)])
            let changed = try await server.slidingSync(bob.token, encryptionBody(), pos: first.pos, timeout: 5000)
            #expect(changed.json["extensions"]?["e2ee"]?["device_lists"]?["changed"] == ["@alice:localhost"])
            // v4 carries the same extensions.
            let v4 = try await server.slidingSyncV4(bob.token, ["extensions": ["e2ee": ["enabled": true]]])
            #expect(v4.json["extensions"]?["e2ee"]?["device_one_time_keys_count"] == ["signed_curve25519": 2])
            #expect(v4.json["extensions"]?["to_device"] == nil)
        }
    }

    @Test func accountDataGlobalAndPerRoomInScope() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let other = try await server.createRoom(alice.token, ["invite": ["@bob:localhost"]])
            _ = try await server.call(.post, server.room(other, "/join"), token: bob.token, json: [:])
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/@bob:localhost/rooms/\(TestServer.path(roomID))/account_data/org.example.room", token: bob.token,
                json: ["n": 1])
            var body = allRoomsList(range: [0, 0])
            body["room_subscriptions"] = [.init(stringLiteral: roomID): ["timeline_limit": 1]]
            body["extensions"] = ["account_data": ["enabled": true, "lists": [], "rooms": [.string(roomID)]]]
            let first = try await server.slidingSync(bob.token, body)
            let data = first.json["extensions"]?["account_data"]
            #expect(first.status == 200, "\(first.raw)")
            #expect(data?["global"]?.arrayValue?.contains { $0["type"] == "m.push_rules" } == true)
            #expect(data?["rooms"]?[roomID]?[0]?["type"] == "org.example.room")
            _ = try await server.call(.put, "/_matrix/client/v3/user/@bob:localhost/account_data/org.example", token: bob.token, json: ["a": 1])
            _ = try await server.call(
                .put, "/_matrix/client/v3/user/@bob:localhost/rooms/\(TestServer.path(other))/account_data/org.example.room", token: bob.token,
                json: ["n": 2])
            let next = try await server.slidingSync(bob.token, body, pos: first.pos, timeout: 5000)
            let changes = next.json["extensions"]?["account_data"]
            #expect(changes?["global"] == [["type": "org.example", "content": ["a": 1]]])
            // `other` is outside the extension's scope.
            #expect(changes?["rooms"] == [:])
        }
    }

    @Test func receiptsAndTyping() async throws {
        try await TestServer.run { server in
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let eventID = try #require(try await server.send(alice.token, roomID, "read me").json["event_id"]?.stringValue)
            var body = allRoomsList()
            body["extensions"] = ["receipts": ["enabled": true, "rooms": ["*"]], "typing": ["enabled": true]]
            let first = try await server.slidingSync(bob.token, body)
            #expect(first.json["extensions"]?["receipts"]?["rooms"] == [:])
            _ = try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(eventID))"), token: alice.token, json: [:])
            let receipt = try await server.slidingSync(bob.token, body, pos: first.pos, timeout: 5000)
            let event = receipt.json["extensions"]?["receipts"]?["rooms"]?[roomID]
            #expect(event?["type"] == "m.receipt")
            #expect(event?["content"]?[eventID]?["m.read"]?["@alice:localhost"]?["ts"]?.intValue != nil)
            _ = try await server.call(
                .put, server.room(roomID, "/typing/@alice:localhost"), token: alice.token, json: ["typing": true, "timeout": 20000])
            let typing = try await server.slidingSync(bob.token, body, pos: receipt.pos, timeout: 5000)
            #expect(typing.json["extensions"]?["typing"]?["rooms"]?[roomID]?["content"]?["user_ids"] == ["@alice:localhost"])
            _ = try await server.call(.put, server.room(roomID, "/typing/@alice:localhost"), token: alice.token, json: ["typing": false])
            let stopped = try await server.slidingSync(bob.token, body, pos: typing.pos, timeout: 5000)
            #expect(stopped.json["extensions"]?["typing"]?["rooms"]?[roomID]?["content"]?["user_ids"] == [])
            // A fresh connection sends the room whole, with the receipts on what it shows.
            let fresh = try await server.slidingSync(bob.token, body)
            #expect(fresh.json["extensions"]?["receipts"]?["rooms"]?[roomID]?["content"]?[eventID] != nil)
            // Disabled, an extension is not in the response.
            let off = try await server.slidingSync(bob.token, allRoomsList())
            #expect(off.json["extensions"] == [:])
        }
    }
}

extension TestServer {
    /// A new login of an existing user, as a session.
    func loginSession(_ user: String, device: String) async throws -> Session {
        let reply = try await login(user, device: device)
        return Session(
            userID: try #require(reply.json["user_id"]?.stringValue), token: try #require(reply.json["access_token"]?.stringValue),
            deviceID: device)
    }
}
