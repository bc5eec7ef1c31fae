import AxonStorage
import MatrixModel
import Testing

@Suite struct PushStoreTests {
    func pusher(_ user: String, app: String = "app", key: String = "key", device: String? = nil, name: String = "Phone") -> Pusher {
        Pusher(
            userID: user, appID: app, pushkey: key, kind: "http", appDisplayName: "App", deviceDisplayName: name, profileTag: nil,
            lang: "en", data: ["url": "http://127.0.0.1/_matrix/push/v1/notify"], deviceID: device, createdAt: 1)
    }

    func makeUsers(_ store: any Storage, _ users: [String]) async throws {
        for user in users {
            try await store.createAccount(
                Account(userID: user, passwordHash: nil, isGuest: false, createdAt: 1, profile: [:]),
                session: NewSession(device: Device(userID: user, deviceID: "D1", displayName: nil), tokenHash: user, createdAt: 1, ip: "::1"))
        }
    }

    @Test(arguments: Backend.allCases)
    func pushersReplaceAppendAndFollowTheirDevice(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await makeUsers(store, ["@a:hs", "@b:hs"])
        try await store.setPusher(pusher("@a:hs", device: "D1"), append: false)
        try await store.setPusher(pusher("@a:hs", device: "D1", name: "Renamed"), append: false)
        #expect(try await store.pushers(userID: "@a:hs").map(\.deviceDisplayName) == ["Renamed"])

        // Another user taking the same app ID and pushkey removes it from the first, unless appending.
        try await store.setPusher(pusher("@b:hs"), append: true)
        #expect(try await store.pushers(userID: "@a:hs").count == 1)
        try await store.setPusher(pusher("@b:hs"), append: false)
        #expect(try await store.pushers(userID: "@a:hs").isEmpty)

        try await store.setPusher(pusher("@a:hs", key: "k2", device: "D1"), append: false)
        try await store.deleteDevices(userID: "@a:hs", deviceIDs: ["D1"])
        #expect(try await store.pushers(userID: "@a:hs").isEmpty, "deleting the device deletes its pushers")

        try await store.deletePusher(userID: "@b:hs", appID: "app", pushkey: "key")
        #expect(try await store.pushers(userID: "@b:hs").isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func pushRuleChangesBecomeAccountData(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        #expect(try await store.pushRules(userID: "@a:hs") == nil)
        let position = try await store.updatePushRules(userID: "@a:hs") { current in
            #expect(current == nil)
            return (["defaults": [".m.rule.master": ["enabled": true]]], ["global": [:]])
        }
        #expect(try await store.pushRules(userID: "@a:hs")?["defaults"] != nil)
        let changes = try await store.accountDataChanges(userID: "@a:hs", since: position - 1)
        #expect(changes.map(\.type) == ["m.push_rules"])
        // A change that throws writes nothing.
        await #expect(throws: MatrixError.self) {
            try await store.updatePushRules(userID: "@a:hs") { _ in throw MatrixError.notFound("no") }
        }
        #expect(try await store.accountDataChanges(userID: "@a:hs", since: position).isEmpty)
    }
}
