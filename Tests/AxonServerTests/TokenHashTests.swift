import Testing

@testable import AxonServer

/// Access tokens are stored as the hex of their SHA-256: the encoding must never change, or
/// every stored token stops matching.
@Suite struct TokenHashTests {
    @Test func hexIsLowercaseTwoDigitsPerByte() {
        #expect(Hex.encode([0x00, 0x0f, 0xab, 0xff, 0x10]) == "000fabff10")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test func tokenHashIsTheHexOfItsSHA256() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        #expect(Authenticator.hash(token: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
