import AxonStorage
import MatrixModel
import Testing

@Suite struct FederationStoreTests {
    @Test(arguments: Backend.allCases)
    func serverKeysKeepTheLatestValidityAndTheirResponse(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        let key = SigningKey.generate(version: "k1")
        let old = SigningKey.generate(version: "k0")
        let later = try ServerKeys(
            response: ServerKeys.publish(
                serverName: "remote.example", key: key, validUntil: 5_000,
                oldKeys: ["ed25519:k0": ["key": .string(old.publicKeyBase64), "expired_ts": 1_000]]),
            expectedServer: "remote.example")
        let earlier = try ServerKeys(
            response: ServerKeys.publish(serverName: "remote.example", key: key, validUntil: 3_000), expectedServer: "remote.example")
        try await store.storeServerKeys(later)
        try await store.storeServerKeys(earlier)
        let stored = try await store.serverKeys(serverName: "remote.example")
        #expect(stored.map(\.keyID) == ["ed25519:k0", "ed25519:k1"])
        let current = try #require(stored.last)
        #expect(current.validUntil == 5_000)
        #expect(current.publicKey == Array(key.privateKey.publicKey.rawRepresentation))
        #expect(current.response == later.json)
        #expect(stored.first?.expiredAt == 1_000)
        #expect(try await store.serverKeys(serverName: "other.example").isEmpty)
    }
}
