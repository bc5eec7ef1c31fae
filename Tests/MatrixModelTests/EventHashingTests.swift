import Testing

@testable import MatrixModel

@Suite struct EventHashingTests {
    /// Appendix "Event Signing": the minimal event.
    @Test func signsTheMinimalEventLikeTheSpec() throws {
        let event = try JSONParser.parse(
            #"{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,"signatures":{},"hashes":{},"type":"X","content":{},"prev_events":[],"auth_events":[],"depth":3,"unsigned":{"age_ts":1000000}}"#
        ).objectValue!
        let signed = try EventHashing.hashAndSign(event, version: .v10, server: "domain", key: SigningTests.key)
        #expect(signed["hashes"]?["sha256"] == "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos")
        #expect(
            signed["signatures"]?["domain"]?["ed25519:1"]
                == "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg")
        #expect(signed["unsigned"] == ["age_ts": 1_000_000])
    }

    /// Appendix "Event Signing": an event with redactable content; the signature covers only
    /// the redacted form, the hash covers everything.
    @Test func signsTheRedactableEventLikeTheSpec() throws {
        let event = try JSONParser.parse(
            #"{"content":{"body":"Here is the message content"},"event_id":"$0:domain","origin":"domain","origin_server_ts":1000000,"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain","signatures":{},"unsigned":{"age_ts":1000000}}"#
        ).objectValue!
        let signed = try EventHashing.hashAndSign(event, version: .v10, server: "domain", key: SigningTests.key)
        #expect(signed["hashes"]?["sha256"] == "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g")
        #expect(
            signed["signatures"]?["domain"]?["ed25519:1"]
                == "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA")
        #expect(EventHashing.contentHashMatches(signed))
        var tampered = signed
        tampered["content"] = ["body": "changed"]
        #expect(!EventHashing.contentHashMatches(tampered))
        // Redaction keeps the signature valid.
        let publicKey = Array(SigningTests.key.privateKey.publicKey.rawRepresentation)
        #expect(JSONSigning.verify(Redaction.redact(signed, version: .v10), server: "domain", keyID: "ed25519:1", publicKey: publicKey))
    }

    @Test func eventIDsAreURLSafeReferenceHashesIgnoringUnsigned() throws {
        var event: JSONObject = ["type": "m.room.message", "content": ["body": "x"], "sender": "@a:hs", "room_id": "!r:hs", "depth": 2]
        let id = try EventHashing.eventID(event, version: .v11)
        #expect(id.hasPrefix("$"))
        #expect(id.count == 44)
        #expect(!id.contains("+") && !id.contains("/") && !id.contains("="))
        event["unsigned"] = ["age": 5]
        #expect(try EventHashing.eventID(event, version: .v11) == id)
        // Content is redacted before the reference hash: a redacted copy keeps its ID.
        event["content"] = ["body": "different"]
        #expect(try EventHashing.eventID(event, version: .v11) == id)
        event["depth"] = 3
        #expect(try EventHashing.eventID(event, version: .v11) != id)
    }

    @Test func rejectsFloatsInEvents() {
        let event: JSONObject = ["type": "x", "content": ["n": .double(1.5)]]
        #expect(throws: CanonicalJSONError.floatNotAllowed) { try EventHashing.contentHash(event) }
    }
}

@Suite struct RedactionTests {
    static let member: JSONObject = [
        "type": "m.room.member", "state_key": "@a:hs", "sender": "@a:hs", "room_id": "!r:hs", "origin": "hs",
        "membership": "join", "prev_state": [], "unsigned": ["age": 1], "event_id": "$e", "depth": 4,
        "content": [
            "membership": "join", "displayname": "A", "join_authorised_via_users_server": "@b:hs",
            "third_party_invite": ["display_name": "x", "signed": ["mxid": "@a:hs"]],
        ],
    ]

    @Test func v10KeepsOriginAndDropsThirdPartyInvite() {
        let redacted = Redaction.redact(Self.member, version: .v10)
        #expect(redacted["origin"] == "hs")
        #expect(redacted["membership"] == "join")
        #expect(redacted["unsigned"] == nil)
        #expect(redacted["content"] == ["membership": "join", "join_authorised_via_users_server": "@b:hs"])
    }

    @Test(arguments: [RoomVersion.v11, .v12])
    func v11DropsOriginAndKeepsSignedInvite(version: RoomVersion) {
        let redacted = Redaction.redact(Self.member, version: version)
        #expect(redacted["origin"] == nil)
        #expect(redacted["membership"] == nil)
        #expect(redacted["prev_state"] == nil)
        #expect(
            redacted["content"]
                == ["membership": "join", "join_authorised_via_users_server": "@b:hs", "third_party_invite": ["signed": ["mxid": "@a:hs"]]])
    }

    @Test func createPowerLevelsAndRedactionContentPerVersion() {
        let create: JSONObject = ["type": "m.room.create", "content": ["creator": "@a:hs", "room_version": "10", "m.federate": false]]
        #expect(Redaction.redact(create, version: .v10)["content"] == ["creator": "@a:hs"])
        #expect(Redaction.redact(create, version: .v11)["content"] == create["content"])
        let levels: JSONObject = ["type": "m.room.power_levels", "content": ["invite": 5, "ban": 50, "notifications": ["room": 1]]]
        #expect(Redaction.redact(levels, version: .v10)["content"] == ["ban": 50])
        #expect(Redaction.redact(levels, version: .v11)["content"] == ["ban": 50, "invite": 5])
        let redaction: JSONObject = ["type": "m.room.redaction", "content": ["redacts": "$x", "reason": "spam"]]
        #expect(Redaction.redact(redaction, version: .v10)["content"] == [:])
        #expect(Redaction.redact(redaction, version: .v11)["content"] == ["redacts": "$x"])
        let message: JSONObject = ["type": "m.room.message", "content": ["body": "secret"]]
        #expect(Redaction.redact(message, version: .v12)["content"] == [:])
        let rules: JSONObject = ["type": "m.room.join_rules", "content": ["join_rule": "restricted", "allow": [], "x": 1]]
        #expect(Redaction.redact(rules, version: .v12)["content"] == ["join_rule": "restricted", "allow": []])
        let visibility: JSONObject = ["type": "m.room.history_visibility", "content": ["history_visibility": "joined", "y": 1]]
        #expect(Redaction.redact(visibility, version: .v10)["content"] == ["history_visibility": "joined"])
    }
}
