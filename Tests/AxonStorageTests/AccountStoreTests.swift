import AxonStorage
import MatrixModel
import Testing

@Suite struct AccountStoreTests {
    func session(_ user: String, _ device: String, token: String, name: String? = nil) -> NewSession {
        NewSession(device: Device(userID: user, deviceID: device, displayName: name), tokenHash: token, createdAt: 1, ip: "127.0.0.1")
    }

    func account(_ user: String, guest: Bool = false) -> Account {
        Account(userID: user, passwordHash: "hash", isGuest: guest, createdAt: 1, profile: ["displayname": "A"])
    }

    @Test(arguments: Backend.allCases)
    func createsAccountsAtomicallyAndRejectsDuplicates(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@alice:hs"), session: session("@alice:hs", "D1", token: "t1"))
        let stored = try #require(try await store.account(userID: "@alice:hs"))
        #expect(stored.passwordHash == "hash")
        #expect(stored.displayName == "A")
        #expect(try await store.tokenOwner(tokenHash: "t1") == TokenOwner(userID: "@alice:hs", deviceID: "D1", isGuest: false, isAdmin: false))

        await #expect(throws: StorageError.self) {
            try await store.createAccount(account("@alice:hs"), session: session("@alice:hs", "D2", token: "t2"))
        }
        // The failed attempt left nothing behind: not its device, not its token.
        #expect(try await store.tokenOwner(tokenHash: "t2") == nil)
        #expect(try await store.devices(userID: "@alice:hs").map(\.deviceID) == ["D1"])
    }

    @Test(arguments: Backend.allCases)
    func findsAccountsCaseInsensitively(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        try await db.storage.createAccount(account("@Bob:hs"), session: nil)
        #expect(try await db.storage.accounts(matchingLowercasedUserID: "@bob:hs").map(\.userID) == ["@Bob:hs"])
        #expect(try await db.storage.account(userID: "@bob:hs") == nil)
    }

    @Test(arguments: Backend.allCases)
    func loginOnAnExistingDeviceReplacesItsToken(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@a:hs"), session: session("@a:hs", "D1", token: "old", name: "Phone"))
        try await store.createSession(session("@a:hs", "D1", token: "new"))
        #expect(try await store.tokenOwner(tokenHash: "old") == nil)
        #expect(try await store.tokenOwner(tokenHash: "new")?.deviceID == "D1")
        // A login without a display name keeps the device's name.
        #expect(try await store.device(userID: "@a:hs", deviceID: "D1")?.displayName == "Phone")
    }

    @Test(arguments: Backend.allCases)
    func deletingDevicesRevokesTheirTokens(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@a:hs"), session: session("@a:hs", "D1", token: "t1"))
        try await store.createSession(session("@a:hs", "D2", token: "t2"))
        try await store.createSession(session("@a:hs", "D3", token: "t3"))
        try await store.deleteDevices(userID: "@a:hs", deviceIDs: ["D1"])
        #expect(try await store.tokenOwner(tokenHash: "t1") == nil)
        #expect(try await store.tokenOwner(tokenHash: "t2") != nil)
        try await store.deleteAllDevices(userID: "@a:hs", keepingDeviceID: "D3")
        #expect(try await store.tokenOwner(tokenHash: "t2") == nil)
        #expect(try await store.tokenOwner(tokenHash: "t3") != nil)
        #expect(try await store.devices(userID: "@a:hs").map(\.deviceID) == ["D3"])
        try await store.deleteAllDevices(userID: "@a:hs", keepingDeviceID: nil)
        #expect(try await store.devices(userID: "@a:hs").isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func deviceUpdates(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@a:hs"), session: session("@a:hs", "D1", token: "t1"))
        #expect(try await store.setDeviceDisplayName(userID: "@a:hs", deviceID: "D1", displayName: "Laptop"))
        #expect(try await !store.setDeviceDisplayName(userID: "@a:hs", deviceID: "NOPE", displayName: "x"))
        try await store.recordDeviceSeen(userID: "@a:hs", deviceID: "D1", ip: "10.0.0.1", userAgent: "Element/1.11", at: 42)
        let device = try #require(try await store.device(userID: "@a:hs", deviceID: "D1"))
        #expect(device == Device(userID: "@a:hs", deviceID: "D1", displayName: "Laptop", lastSeenIP: "10.0.0.1", lastSeenAt: 42, lastSeenUserAgent: "Element/1.11"))
    }

    @Test(arguments: Backend.allCases)
    func deactivationErasesCredentials(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@a:hs"), session: session("@a:hs", "D1", token: "t1"))
        try await store.deactivateAccount(userID: "@a:hs", erase: false)
        let stored = try #require(try await store.account(userID: "@a:hs"))
        #expect(stored.isDeactivated)
        #expect(stored.passwordHash == nil)
        #expect(stored.profile.isEmpty)
        #expect(try await store.tokenOwner(tokenHash: "t1") == nil)
        #expect(try await store.devices(userID: "@a:hs").isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func passwordsAndProfiles(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.createAccount(account("@a:hs"), session: nil)
        try await store.setPasswordHash(userID: "@a:hs", hash: "new")
        #expect(try await store.account(userID: "@a:hs")?.passwordHash == "new")
        #expect(try await store.setProfileField(userID: "@a:hs", key: "m.tz", value: "Europe/Paris"))
        #expect(try await store.setProfileField(userID: "@a:hs", key: "displayname", value: nil))
        #expect(try await !store.setProfileField(userID: "@nobody:hs", key: "m.tz", value: "x"))
        #expect(try await store.account(userID: "@a:hs")?.profile == ["m.tz": "Europe/Paris"])
    }

    @Test(arguments: Backend.allCases)
    func generatedNumbersNeverRepeat(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        var seen = Set<Int64>()
        for _ in 0..<20 { seen.insert(try await db.storage.nextGeneratedUserNumber()) }
        #expect(seen.count == 20)
    }

    @Test(arguments: Backend.allCases)
    func uiaSessions(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        var session = UIASession(sessionID: "s1", operation: "register", userID: nil, completedStages: [], createdAt: 100)
        try await store.saveUIASession(session)
        session.completedStages = ["m.login.dummy"]
        try await store.saveUIASession(session)
        #expect(try await store.uiaSession(id: "s1") == session)
        try await store.saveUIASession(UIASession(sessionID: "s2", operation: "x", userID: "@a:hs", completedStages: [], createdAt: 500))
        try await store.deleteUIASessions(olderThan: 200)
        #expect(try await store.uiaSession(id: "s1") == nil)
        #expect(try await store.uiaSession(id: "s2") != nil)
        try await store.deleteUIASession(id: "s2")
        #expect(try await store.uiaSession(id: "s2") == nil)
    }

    @Test(arguments: Backend.allCases)
    func dataSurvivesReopening(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        try await db.storage.createAccount(account("@a:hs"), session: session("@a:hs", "D1", token: "t1"))
        try await db.storage.close()
        let reopened = try await db.reopen()
        #expect(try await reopened.tokenOwner(tokenHash: "t1")?.userID == "@a:hs")
        try await reopened.close()
    }
}

@Suite struct TypingStoreTests {
    @Test(arguments: Backend.allCases)
    func typingExpiresAtItsTimeOnce(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        let first = try await store.setTyping(roomID: "!r:hs", userID: "@a:hs", expiresAt: 1_000)
        try await store.setTyping(roomID: "!r:hs", userID: "@b:hs", expiresAt: 5_000)
        #expect(try await store.typingUsers(roomID: "!r:hs", now: 500) == ["@a:hs", "@b:hs"])
        #expect(try await store.typingUsers(roomID: "!r:hs", now: 2_000) == ["@b:hs"])
        let expired = try await store.expireTyping(now: 2_000)
        #expect(expired.map(\.roomID) == ["!r:hs"])
        #expect(expired[0].position > first)
        #expect(try await store.expireTyping(now: 2_000).isEmpty)
        try await store.setTyping(roomID: "!r:hs", userID: "@b:hs", expiresAt: nil)
        #expect(try await store.typingUsers(roomID: "!r:hs", now: 0).isEmpty)
    }
}
