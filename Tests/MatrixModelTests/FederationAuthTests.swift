import Testing

@testable import MatrixModel

@Suite struct XMatrixTests {
    let key = SigningKey.generate(version: "a1")

    @Test func aSignedRequestVerifiesAndAnyChangeBreaksIt() throws {
        let content: JSON = ["pdus": [], "origin": "origin.example"]
        let header = try XMatrixAuthorization.header(
            method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", origin: "origin.example:8448", destination: "dest.example",
            content: content, key: key)
        let parsed = try #require(XMatrixAuthorization(header: header))
        #expect(parsed.origin == "origin.example:8448")
        #expect(parsed.destination == "dest.example")
        #expect(parsed.keyID == "ed25519:a1")
        let publicKey = Array(key.privateKey.publicKey.rawRepresentation)
        #expect(parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "dest.example", content: content, publicKey: publicKey))
        // The URI as on the wire: a decoded `/` is another request.
        #expect(!parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=/", destination: "dest.example", content: content, publicKey: publicKey))
        #expect(!parsed.verify(method: "POST", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "dest.example", content: content, publicKey: publicKey))
        #expect(!parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "other.example", content: content, publicKey: publicKey))
        #expect(!parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "dest.example", content: ["pdus": []], publicKey: publicKey))
        #expect(!parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "dest.example", content: nil, publicKey: publicKey))
        let other = Array(SigningKey.generate(version: "b").privateKey.publicKey.rawRepresentation)
        #expect(!parsed.verify(method: "PUT", uri: "/_matrix/federation/v1/send/t1?x=%2F", destination: "dest.example", content: content, publicKey: other))
    }

    @Test func headerParsingFollowsTheAuthParamGrammar() {
        let parsed = XMatrixAuthorization(header: #"X-Matrix Origin=origin.example,Key="ed25519:k",sig="a\"b",destination="d""#)
        #expect(parsed == XMatrixAuthorization(origin: "origin.example", destination: "d", keyID: "ed25519:k", signature: #"a"b"#))
        // No destination: older servers omit it.
        #expect(XMatrixAuthorization(header: #"X-Matrix origin="o",key="ed25519:k",sig="s""#)?.destination == nil)
        #expect(XMatrixAuthorization(header: #"Bearer abc"#) == nil)
        #expect(XMatrixAuthorization(header: #"X-Matrix origin="o",key="ed25519:k""#) == nil)
        #expect(XMatrixAuthorization(header: #"X-Matrix origin="o,key="ed25519:k",sig="s""#) == nil)
        #expect(XMatrixAuthorization(header: #"X-Matrix origin="o",origin="p",key="ed25519:k",sig="s""#) == nil)
    }
}

@Suite struct ServerKeysTests {
    let key = SigningKey.generate(version: "a1")

    @Test func aPublishedResponseParsesAndChecksItsSignature() throws {
        let old = SigningKey.generate(version: "old")
        let response = try ServerKeys.publish(
            serverName: "hs.example", key: key, validUntil: 2_000,
            oldKeys: ["ed25519:old": ["key": .string(old.publicKeyBase64), "expired_ts": 1_000]])
        let keys = try ServerKeys(response: response, expectedServer: "hs.example")
        #expect(keys.key("ed25519:a1", usableAt: 1_500, enforceValidity: true) == Array(key.privateKey.publicKey.rawRepresentation))
        // Room v5+: a signature made after valid_until_ts is not covered by this response.
        #expect(keys.key("ed25519:a1", usableAt: 2_500, enforceValidity: true) == nil)
        #expect(keys.key("ed25519:a1", usableAt: 2_500, enforceValidity: false) != nil)
        #expect(keys.key("ed25519:old", usableAt: 999, enforceValidity: true) != nil)
        #expect(keys.key("ed25519:old", usableAt: 1_000, enforceValidity: true) == nil)
        #expect(throws: ServerKeys.Problem.wrongServer("hs.example")) { try ServerKeys(response: response, expectedServer: "evil.example") }
        var tampered = response
        tampered["valid_until_ts"] = 9_999_999
        #expect(throws: ServerKeys.Problem.unsigned("ed25519:a1")) { try ServerKeys(response: tampered, expectedServer: "hs.example") }
    }
}

@Suite struct ServerACLTests {
    @Test func denyBeforeAllowPortsIgnoredAndIPLiterals() throws {
        let acl = try #require(ServerACL(content: ["allow": ["*"], "deny": ["evil.example", "*.bad.example"], "allow_ip_literals": false]))
        #expect(acl.allows("good.example"))
        #expect(acl.allows("good.example:8448"))
        #expect(!acl.allows("evil.example:1234"))
        #expect(!acl.allows("sub.bad.example"))
        #expect(acl.allows("bad.example"))
        #expect(!acl.allows("1.2.3.4"))
        #expect(!acl.allows("[::1]:8448"))
        let narrow = try #require(ServerACL(content: ["allow": ["matrix.?rg", "*.example.com"]]))
        #expect(narrow.allows("matrix.org"))
        #expect(!narrow.allows("matrix.organisation"))
        #expect(narrow.allows("a.b.example.com"))
        #expect(!narrow.allows("example.com"))
        #expect(narrow.allows("1.2.3.4") == false)
        // An ACL with no allow list allows no one.
        #expect(try #require(ServerACL(content: [:])).allows("anyone.example") == false)
        #expect(ServerACL(content: nil) == nil)
    }
}
