import Testing

@testable import MatrixModel

@Suite struct ReceivedPDUTests {
    let key = SigningKey.generate(version: "r")
    let server = "remote.example"

    func event(_ version: RoomVersion, content: JSON = ["body": "hi", "msgtype": "m.text"], edit: (inout JSONObject) -> Void = { _ in }) throws -> JSONObject {
        var json: JSONObject = [
            "type": "m.room.message", "sender": "@bob:remote.example", "room_id": "!room:hs", "content": content,
            "origin_server_ts": 1_000, "depth": 5, "prev_events": version.eventIDFormat == .serverScoped ? [["$p:hs", [:]]] : ["$p"],
            "auth_events": version.eventIDFormat == .serverScoped ? [["$a:hs", [:]]] : ["$a"],
        ]
        if version.eventIDFormat == .serverScoped { json["event_id"] = "$abc:remote.example" }
        edit(&json)
        return try EventHashing.hashAndSign(json, version: version, server: server, key: key)
    }

    func keys(_ server: String, _ keyID: String) -> [UInt8]? {
        server == self.server && keyID == key.keyID ? Array(key.privateKey.publicKey.rawRepresentation) : nil
    }

    @Test(arguments: ["1", "3", "4", "10", "11", "12"])
    func aWellFormedSignedEventPasses(version: String) throws {
        let roomVersion = RoomVersion(version)!
        let pdu = try ReceivedPDU.parse(try event(roomVersion), version: roomVersion, roomID: "!room:hs")
        #expect(pdu.eventID == (roomVersion.eventIDFormat == .serverScoped ? "$abc:remote.example" : try EventHashing.eventID(pdu.json, version: roomVersion)))
        try ReceivedPDU.verifySignatures(pdu, version: roomVersion, key: keys)
        #expect(ReceivedPDU.applyingHashCheck(pdu, version: roomVersion).redacted == false)
    }

    @Test func forgedOrMissingSignaturesAreRefused() throws {
        let version = RoomVersion("10")!
        var forged = try event(version)
        forged["signatures"] = ["remote.example": ["ed25519:r": "AAAA"]]
        let pdu = try ReceivedPDU.parse(forged, version: version, roomID: nil)
        #expect(throws: ReceivedPDU.Failure.badSignature("no valid signature of remote.example")) {
            try ReceivedPDU.verifySignatures(pdu, version: version, key: keys)
        }
        // Signed by a server that is not the sender's.
        let other = SigningKey.generate(version: "o")
        let byOther = try EventHashing.hashAndSign(try event(version), version: version, server: "other.example", key: other)
        var stripped = byOther
        stripped["signatures"] = ["other.example": byOther["signatures"]!["other.example"]!]
        #expect(throws: ReceivedPDU.Failure.self) {
            try ReceivedPDU.verifySignatures(try ReceivedPDU.parse(stripped, version: version, roomID: nil), version: version, key: keys)
        }
        // A change to anything the redacted form keeps breaks the signature.
        var moved = try event(version)
        moved["sender"] = "@mallory:remote.example"
        #expect(throws: ReceivedPDU.Failure.self) {
            try ReceivedPDU.verifySignatures(try ReceivedPDU.parse(moved, version: version, roomID: nil), version: version, key: keys)
        }
    }

    @Test func aWrongContentHashLeavesOnlyTheRedactedEvent() throws {
        let version = RoomVersion("11")!
        var tampered = try event(version)
        tampered["content"] = ["body": "something else", "msgtype": "m.text"]
        let pdu = try ReceivedPDU.parse(tampered, version: version, roomID: nil)
        // Content is outside the signed redacted form: the signature still holds...
        try ReceivedPDU.verifySignatures(pdu, version: version, key: keys)
        // ...but the hash does not, so only the redacted event goes on.
        let (checked, redacted) = ReceivedPDU.applyingHashCheck(pdu, version: version)
        #expect(redacted)
        #expect(checked.content == [:])
    }

    @Test func restrictedJoinsNeedTheAuthorisingServersSignature() throws {
        let version = RoomVersion("10")!
        var join = try event(version) {
            $0["type"] = "m.room.member"
            $0["state_key"] = "@bob:remote.example"
            $0["content"] = ["membership": "join", "join_authorised_via_users_server": "@admin:resident.example"]
        }
        join = try EventHashing.hashAndSign(join, version: version, server: server, key: key)
        let pdu = try ReceivedPDU.parse(join, version: version, roomID: nil)
        #expect(ReceivedPDU.requiredSigners(pdu, version: version) == ["remote.example", "resident.example"])
        #expect(throws: ReceivedPDU.Failure.badSignature("no valid signature of resident.example")) {
            try ReceivedPDU.verifySignatures(pdu, version: version, key: keys)
        }
    }

    @Test func malformedEventsAreDropped() throws {
        let version = RoomVersion("10")!
        let cases: [(String, (inout JSONObject) -> Void)] = [
            ("no sender", { $0["sender"] = nil }),
            ("sender not a user", { $0["sender"] = "bob" }),
            ("content not an object", { $0["content"] = "x" }),
            ("negative depth", { $0["depth"] = -1 }),
            ("float", { $0["content"] = ["n": .double(1.5)] }),
            ("integer out of range", { $0["origin_server_ts"] = .int(JSON.maxSafeInteger + 1) }),
            ("too many prev_events", { $0["prev_events"] = .array((0..<21).map { .string("$p\($0)") }) }),
            ("another room", { $0["room_id"] = "!other:hs" }),
            ("long state key", { $0["state_key"] = .string(String(repeating: "k", count: 256)) }),
            ("too large", { $0["content"] = ["body": .string(String(repeating: "x", count: 70_000))] }),
        ]
        for (name, edit) in cases {
            var json = try event(version)
            edit(&json)
            #expect(throws: ReceivedPDU.Failure.self, "\(name)") { try ReceivedPDU.parse(json, version: version, roomID: "!room:hs") }
        }
        // v12 create events carry no room_id; other v12 events must.
        let v12 = RoomVersion("12")!
        var create = try event(v12) { $0["type"] = "m.room.create"; $0["state_key"] = ""; $0["room_id"] = nil }
        create = try EventHashing.hashAndSign(create, version: v12, server: server, key: key)
        _ = try ReceivedPDU.parse(create, version: v12, roomID: nil)
        var message = try event(v12)
        message["room_id"] = nil
        #expect(throws: ReceivedPDU.Failure.self) { try ReceivedPDU.parse(message, version: v12, roomID: nil) }
    }
}
