import Testing

@testable import MatrixModel

/// Per-version event IDs, redaction and canonical JSON (spec content/rooms/v1.md … v12.md).
@Suite struct RoomVersionTests {
    static let versions = RoomVersion.supported

    func redacted(_ type: String, _ content: JSONObject, extra: JSONObject = [:], version: RoomVersion) -> JSONObject {
        var event: JSONObject = [
            "type": .string(type), "sender": "@a:hs", "room_id": "!r:hs", "content": .object(content), "origin": "hs",
            "membership": "join", "depth": 3, "origin_server_ts": 1, "prev_state": [], "unsigned": ["age": 1],
        ]
        for (key, value) in extra { event[key] = value }
        return Redaction.redact(event, version: version)
    }

    @Test(arguments: versions)
    func redactionKeepsWhatTheVersionKeeps(version: RoomVersion) {
        let n = version.number
        let member = redacted("m.room.member", ["membership": "join", "join_authorised_via_users_server": "@b:hs", "displayname": "A"], version: version)
        #expect(member["content"]?["membership"] == "join")
        #expect((member["content"]?["join_authorised_via_users_server"] != nil) == (n >= 9))
        #expect(member["content"]?["displayname"] == nil)
        let rules = redacted("m.room.join_rules", ["join_rule": "restricted", "allow": []], version: version)
        #expect((rules["content"]?["allow"] != nil) == (n >= 8))
        let aliases = redacted("m.room.aliases", ["aliases": ["#a:hs"]], extra: ["state_key": "hs"], version: version)
        #expect((aliases["content"]?["aliases"] != nil) == (n <= 5))
        let create = redacted("m.room.create", ["creator": "@a:hs", "room_version": .string(version.identifier), "m.federate": true], version: version)
        #expect(create["content"]?["creator"] == "@a:hs")
        #expect((create["content"]?["m.federate"] != nil) == (n >= 11))
        let levels = redacted("m.room.power_levels", ["invite": 10, "ban": 50, "notifications": ["room": 50]], version: version)
        #expect((levels["content"]?["invite"] != nil) == (n >= 11))
        #expect(levels["content"]?["ban"] == 50)
        #expect(levels["content"]?["notifications"] == nil)
        let redaction = redacted("m.room.redaction", ["redacts": "$x", "reason": "spam"], version: version)
        #expect((redaction["content"]?["redacts"] != nil) == (n >= 11))
        #expect(redaction["content"]?["reason"] == nil)
        // Top-level keys dropped by v11.
        for key in ["origin", "membership", "prev_state"] {
            #expect((member[key] != nil) == (n <= 10), "\(key)")
        }
        #expect(member["unsigned"] == nil)
    }

    @Test(arguments: versions)
    func eventIDsFollowTheVersionsFormat(version: RoomVersion) throws {
        let event: JSONObject = [
            "type": "m.room.message", "sender": "@a:hs", "room_id": "!r:hs", "content": ["body": "hi"], "depth": 2,
            "origin_server_ts": 1_700_000_000_000, "prev_events": [], "auth_events": [],
        ]
        switch version.eventIDFormat {
        case .serverScoped:
            #expect(throws: CanonicalJSONError.missingEventID) { try EventHashing.eventID(event, version: version) }
            var withID = event
            withID["event_id"] = "$abc:hs"
            #expect(try EventHashing.eventID(withID, version: version) == "$abc:hs")
        case .referenceHash, .urlSafeReferenceHash:
            let id = try EventHashing.eventID(event, version: version)
            let hash = try EventHashing.referenceHash(event, version: version)
            #expect(id == "$" + UnpaddedBase64.encode(hash, urlSafe: version.eventIDFormat == .urlSafeReferenceHash))
            #expect(id.utf8.count == 44)
            if version.eventIDFormat == .urlSafeReferenceHash { #expect(!id.contains("+") && !id.contains("/")) }
        }
        #expect((version.number <= 2) == (version.eventIDFormat == .serverScoped))
        #expect((version.number == 3) == (version.eventIDFormat == .referenceHash))
    }

    @Test func v1PrevAndAuthEventsArePairs() {
        let pdu = PDU(eventID: "$e:hs", json: ["prev_events": [["$p:hs", ["sha256": "x"]]], "auth_events": [["$a:hs", [:]], ["$b:hs", [:]]]])
        #expect(pdu.prevEvents == ["$p:hs"])
        #expect(pdu.authEvents == ["$a:hs", "$b:hs"])
    }

    /// v6+ canonical JSON: no floats, integers within ±(2^53 − 1).
    @Test(arguments: versions.filter(\.strictCanonicalJSON))
    func strictCanonicalJSONRefusesFloatsAndLargeIntegers(version: RoomVersion) throws {
        let key = try SigningKey(keyID: "ed25519:1", seed: Array(repeating: 7, count: 32))
        let base: JSONObject = ["type": "m.room.message", "sender": "@a:hs", "room_id": "!r:hs", "depth": 1, "origin_server_ts": 1]
        for bad: JSON in [.double(1.5), .int(9_007_199_254_740_992), .int(-9_007_199_254_740_992)] {
            var event = base
            event["content"] = ["n": bad]
            #expect(throws: CanonicalJSONError.self) { try EventHashing.hashAndSign(event, version: version, server: "hs", key: key) }
        }
        var fine = base
        fine["content"] = ["n": .int(9_007_199_254_740_991)]
        _ = try EventHashing.hashAndSign(fine, version: version, server: "hs", key: key)
    }

    @Test func everyVersionIsKnownAndTwelveIsTheDefault() {
        #expect(RoomVersion.supported.map(\.identifier) == (1...12).map(String.init))
        #expect(RoomVersion.default == .v12)
        #expect(RoomVersion("13") == nil)
        #expect(RoomVersion.v1.stateResolution == .v1 && RoomVersion.v2.stateResolution == .v2 && RoomVersion.v12.stateResolution == .v2_1)
    }
}
