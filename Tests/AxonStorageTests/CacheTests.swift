import AxonStorage
import MatrixModel
import Testing

/// The caches in front of the stores (issue 18): what a write changes is never read stale,
/// whichever store method made the change, on this instance and (PostgreSQL) on another one
/// sharing the database.
@Suite struct CacheTests {
    func session(_ user: String, _ device: String, token: String) -> NewSession {
        NewSession(device: Device(userID: user, deviceID: device, displayName: nil), tokenHash: token, createdAt: 1, ip: "127.0.0.1")
    }

    @Test(arguments: Backend.allCases)
    func cachedTokensFollowEveryChangeToTheirOwner(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(Account(userID: "@a:hs", passwordHash: "h", isGuest: false, createdAt: 1), session: session("@a:hs", "D1", token: "t1"))
        #expect(try await store.tokenOwner(tokenHash: "t1")?.isAdmin == false)
        #expect(try await store.tokenOwner(tokenHash: "t1")?.isAdmin == false)
        try await store.setAdmin(userID: "@a:hs", isAdmin: true)
        #expect(try await store.tokenOwner(tokenHash: "t1")?.isAdmin == true)
        try await store.setLocked(userID: "@a:hs", locked: true)
        #expect(try await store.tokenOwner(tokenHash: "t1")?.isLocked == true)
        // Deleting the device removes the token through a foreign-key cascade: no store code
        // names the token, the trigger on the cascaded delete still reports it.
        try await store.deleteDevices(userID: "@a:hs", deviceIDs: ["D1"])
        #expect(try await store.tokenOwner(tokenHash: "t1") == nil)
        let hits = store.cacheStatistics.first { $0.name == "access_tokens" }?.hits ?? 0
        #expect(hits >= 1)
    }

    @Test(arguments: Backend.allCases)
    func cachedPushRulesIncludingNoneFollowUpdates(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(Account(userID: "@a:hs", passwordHash: "h", isGuest: false, createdAt: 1), session: nil)
        #expect(try await store.pushRules(userID: "@a:hs") == nil)
        #expect(try await store.pushRules(for: ["@a:hs"]).isEmpty)
        try await store.updatePushRules(userID: "@a:hs") { _ in (["override": []], ["global": [:]]) }
        #expect(try await store.pushRules(userID: "@a:hs") == ["override": []])
    }

    /// Another instance on the same PostgreSQL database is another node: it learns of the
    /// change through NOTIFY, within moments, with no query of its own.
    @Test func anotherNodeDropsWhatThisOneChanged() async throws {
        let db = try await Backend.postgres.makeStorage()
        defer { db.cleanup() }
        let nodeA = db.storage
        let nodeB = try await db.reopen()
        let listening = Task { try await nodeB.listenForChanges { _ in } }
        defer { listening.cancel() }
        try await nodeA.createAccount(Account(userID: "@a:hs", passwordHash: "h", isGuest: false, createdAt: 1), session: session("@a:hs", "D1", token: "t1"))
        // The listener clears everything when it starts: wait until B's copy survives a read.
        var cachedOnB = false
        for _ in 0..<100 where !cachedOnB {
            _ = try await nodeB.tokenOwner(tokenHash: "t1")
            let before = nodeB.cacheStatistics.first { $0.name == "access_tokens" }?.hits ?? 0
            _ = try await nodeB.tokenOwner(tokenHash: "t1")
            cachedOnB = (nodeB.cacheStatistics.first { $0.name == "access_tokens" }?.hits ?? 0) > before
            if !cachedOnB { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(cachedOnB)
        try await nodeA.deleteDevices(userID: "@a:hs", deviceIDs: ["D1"])
        var seen = false
        for _ in 0..<100 where !seen {
            seen = try await nodeB.tokenOwner(tokenHash: "t1") == nil
            if !seen { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(seen)
        try await nodeB.close()
    }
}
