import Testing

@testable import MatrixModel

@Suite struct SigningTests {
    /// The key of the spec appendix "Cryptographic Test Vectors".
    static let key = try! SigningKey(keyID: "ed25519:1", seed: UnpaddedBase64.decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!)

    @Test func signsTheEmptyObjectLikeTheSpec() throws {
        let signed = try JSONSigning.sign([:], server: "domain", key: Self.key)
        #expect(
            signed["signatures"]?["domain"]?["ed25519:1"]
                == "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ")
    }

    @Test func signsAnObjectWithDataLikeTheSpec() throws {
        let signed = try JSONSigning.sign(["one": 1, "two": "Two"], server: "domain", key: Self.key)
        let canonical = try JSON.object(signed).canonicalString()
        #expect(
            canonical
                == #"{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}"#
        )
    }

    @Test func verificationIgnoresUnsignedAndCatchesTampering() throws {
        let publicKey = Array(Self.key.privateKey.publicKey.rawRepresentation)
        var signed = try JSONSigning.sign(["one": 1, "unsigned": ["age": 5]], server: "domain", key: Self.key)
        #expect(JSONSigning.verify(signed, server: "domain", keyID: "ed25519:1", publicKey: publicKey))
        signed["unsigned"] = ["age": 6]
        #expect(JSONSigning.verify(signed, server: "domain", keyID: "ed25519:1", publicKey: publicKey))
        signed["one"] = 2
        #expect(!JSONSigning.verify(signed, server: "domain", keyID: "ed25519:1", publicKey: publicKey))
    }

    @Test func keyFileRoundTrips() throws {
        let key = SigningKey.generate(version: "a_test")
        let parsed = try #require(SigningKey(fileRepresentation: key.fileRepresentation))
        #expect(parsed.keyID == "ed25519:a_test")
        #expect(parsed.seed == key.seed)
        #expect(SigningKey(fileRepresentation: "ed25519 x notbase64!") == nil)
    }

    @Test func unpaddedBase64() {
        #expect(UnpaddedBase64.encode(Array("".utf8)) == "")
        #expect(UnpaddedBase64.encode(Array("f".utf8)) == "Zg")
        #expect(UnpaddedBase64.encode(Array("fo".utf8)) == "Zm8")
        #expect(UnpaddedBase64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(UnpaddedBase64.encode([0xfb, 0xff], urlSafe: true) == "-_8")
        #expect(UnpaddedBase64.decode("Zm8") == Array("fo".utf8))
        #expect(UnpaddedBase64.decode("Zm8=") == Array("fo".utf8))
        #expect(UnpaddedBase64.decode("-_8") == [0xfb, 0xff])
        #expect(UnpaddedBase64.decode("Z") == nil)
        #expect(UnpaddedBase64.decode("Zm=8") == nil)
    }
}
