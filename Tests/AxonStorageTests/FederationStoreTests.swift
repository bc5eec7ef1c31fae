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

@Suite struct FederationOutboxTests {
    @Test(arguments: Backend.allCases)
    func theOutboxQueuesBatchesLeasesAndCatchesUp(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        for index in 0..<60 { try await store.enqueueOutbound(destinations: ["a.example", "b.example"], eventID: "$e\(index)", edu: nil, now: 1) }
        try await store.enqueueOutbound(destinations: ["a.example"], eventID: nil, edu: ["edu_type": "m.typing", "content": [:]], now: 1)
        #expect(Set(try await store.pendingDestinations(now: 1)) == ["a.example", "b.example"])
        let batch = try await store.outboundBatch(destination: "a.example", pdus: 50, edus: 100)
        #expect(batch.pdus.map(\.eventID) == (0..<50).map { "$e\($0)" })
        #expect(batch.edus.count == 1)
        #expect(batch.total == 61)
        try await store.completeOutbound(destination: "a.example", sequences: batch.sequences)
        #expect(try await store.outboundBatch(destination: "a.example", pdus: 50, edus: 100).pdus.map(\.eventID) == (50..<60).map { "$e\($0)" })
        // A failure holds the destination back until its retry time.
        #expect(try await store.failOutbound(destination: "b.example", retryAt: 100, now: 50) == 1)
        #expect(try await store.pendingDestinations(now: 99) == ["a.example"])
        #expect(Set(try await store.pendingDestinations(now: 100)) == ["a.example", "b.example"])
        // Far behind: only the newest PDUs are kept.
        try await store.trimOutbound(destination: "b.example", keeping: 5)
        #expect(try await store.outboundBatch(destination: "b.example", pdus: 50, edus: 100).pdus.map(\.eventID) == (55..<60).map { "$e\($0)" })
        // One node at a time: a lease is exclusive until it runs out, renewable by its owner.
        #expect(try await store.leaseDestination("a.example", owner: "n1", now: 10, until: 20))
        #expect(try await !store.leaseDestination("a.example", owner: "n2", now: 15, until: 25))
        #expect(try await store.leaseDestination("a.example", owner: "n1", now: 15, until: 30))
        #expect(try await store.leaseDestination("a.example", owner: "n2", now: 31, until: 40))
        // Released, it is free at once; only its owner can release it.
        try await store.releaseDestination("a.example", owner: "n1")
        #expect(try await !store.leaseDestination("a.example", owner: "n3", now: 32, until: 50))
        try await store.releaseDestination("a.example", owner: "n2")
        #expect(try await store.leaseDestination("a.example", owner: "n3", now: 32, until: 50))
    }

    @Test(arguments: Backend.allCases)
    func inboundTransactionsAreRemembered(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        #expect(try await store.inboundTransactionResponse(origin: "o.example", txnID: "t") == nil)
        try await store.saveInboundTransaction(origin: "o.example", txnID: "t", response: ["pdus": [:]], now: 1_000)
        #expect(try await store.inboundTransactionResponse(origin: "o.example", txnID: "t") == ["pdus": [:]])
        #expect(try await store.inboundTransactionResponse(origin: "p.example", txnID: "t") == nil)
        // A day later the answer is forgotten when the next one is saved.
        try await store.saveInboundTransaction(origin: "o.example", txnID: "u", response: [:], now: 1_000 + 86_400_001)
        #expect(try await store.inboundTransactionResponse(origin: "o.example", txnID: "t") == nil)
    }
}

@Suite struct RemoteToDeviceTests {
    @Test(arguments: Backend.allCases)
    func aRelayedMessageIsDeliveredOncePerSenderAndMessageID(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(
            Account(userID: "@alice:hs", passwordHash: "hash", isGuest: false, createdAt: 1, profile: [:]),
            session: NewSession(device: Device(userID: "@alice:hs", deviceID: "D1", displayName: nil), tokenHash: "t1", createdAt: 1, ip: "127.0.0.1"))
        let recipients = [ToDeviceRecipient(userID: "@alice:hs", deviceID: "*", content: ["k": "v"])]
        // The sender has no device here: relayed messages are remembered by message ID.
        let first = try await store.receiveToDevice(sender: "@bob:remote.example", messageID: "m1", type: "m.room.encrypted", recipients: recipients)
        #expect(first?.users == ["@alice:hs"])
        #expect(try await store.receiveToDevice(sender: "@bob:remote.example", messageID: "m1", type: "m.room.encrypted", recipients: recipients) == nil)
        // Another sender may use the same ID.
        #expect(try await store.receiveToDevice(sender: "@carol:remote.example", messageID: "m1", type: "m.room.encrypted", recipients: recipients) != nil)
        let pending = try await store.syncKeyState(
            userID: "@alice:hs", deviceID: "D1", acknowledged: nil, since: nil, upTo: try await store.currentStreamPosition(), toDeviceLimit: 10)
        #expect(pending.toDevice.map(\.sender) == ["@bob:remote.example", "@carol:remote.example"])
    }
}

@Suite struct RemoteCacheStoreTests {
    @Test(arguments: Backend.allCases)
    func remoteMediaIsKeptPerOriginIDAndVariant(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        let original = RemoteMediaRecord(
            origin: "o.example", mediaID: "m", variant: "", contentType: "image/png", filename: "a.png", sha256: "aa", size: 3, fetchedAt: 1)
        try await store.saveRemoteMedia(original)
        var thumbnail = original
        thumbnail.variant = "32x32-crop"
        thumbnail.sha256 = "bb"
        try await store.saveRemoteMedia(thumbnail)
        #expect(try await store.remoteMedia(origin: "o.example", mediaID: "m", variant: "") == original)
        #expect(try await store.remoteMedia(origin: "o.example", mediaID: "m", variant: "32x32-crop")?.sha256 == "bb")
        #expect(try await store.remoteMedia(origin: "p.example", mediaID: "m", variant: "") == nil)
        var refetched = original
        refetched.sha256 = "cc"
        refetched.filename = nil
        try await store.saveRemoteMedia(refetched)
        #expect(try await store.remoteMedia(origin: "o.example", mediaID: "m", variant: "") == refetched)
    }

    @Test(arguments: Backend.allCases)
    func urlPreviewsArePerBucketAndOldOnesGo(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.saveURLPreview(url: "https://a.example/", bucket: 10, preview: ["og:title": "old"], olderThan: 0)
        try await store.saveURLPreview(url: "https://a.example/", bucket: 11, preview: ["og:title": "new"], olderThan: 0)
        #expect(try await store.urlPreview(url: "https://a.example/", bucket: 10) == ["og:title": "old"])
        #expect(try await store.urlPreview(url: "https://a.example/", bucket: 12) == nil)
        try await store.saveURLPreview(url: "https://b.example/", bucket: 40, preview: [:], olderThan: 11)
        #expect(try await store.urlPreview(url: "https://a.example/", bucket: 10) == nil)
        #expect(try await store.urlPreview(url: "https://a.example/", bucket: 11) == ["og:title": "new"])
    }

    @Test(arguments: Backend.allCases)
    func remoteDeviceListsAreReplacedAndDeleted(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        #expect(try await store.remoteDeviceList(userID: "@b:o.example") == nil)
        let list = RemoteDeviceList(userID: "@b:o.example", streamID: nil, keys: ["device_keys": ["D": ["k": "v"]]])
        try await store.saveRemoteDeviceList(list)
        #expect(try await store.remoteDeviceList(userID: "@b:o.example") == list)
        let newer = RemoteDeviceList(userID: "@b:o.example", streamID: 9, keys: ["device_keys": [:]])
        try await store.saveRemoteDeviceList(newer)
        #expect(try await store.remoteDeviceList(userID: "@b:o.example") == newer)
        try await store.deleteRemoteDeviceList(userID: "@b:o.example")
        #expect(try await store.remoteDeviceList(userID: "@b:o.example") == nil)
    }
}
