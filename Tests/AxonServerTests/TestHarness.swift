import AxonServer
import AxonStorage
import AxonTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MatrixModel
import NIOCore
import Testing

/// A real Axon (real database, real routes) served in-process through HummingbirdTesting.
/// `AXON_TEST_STORAGE=postgres` runs the suite on a fresh PostgreSQL database per test
/// instead of a SQLite file; scripts/test runs it both ways.
/// Limits how many test servers use the PostgreSQL test cluster at once.
actor TestSlots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

let postgresSlots = TestSlots(16)

struct TestServer {
    let client: any TestClientProtocol
    let server: AxonServer

    static func run(
        configure: (inout AxonConfig) -> Void = { _ in },
        _ body: @Sendable (TestServer) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = AxonConfig()
        config.dataDirectory = directory.path
        config.bcryptCost = 4
        config.rateLimitsEnabled = false
        config.enableRegistration = true
        config.registrationSharedSecret = "s3cret"
        var postgresURL: String?
        let usesPostgres = ProcessInfo.processInfo.environment["AXON_TEST_STORAGE"] == "postgres"
        // Tests run in parallel; a bounded number at a time keeps the test cluster's
        // connections (each server has its own pool) under its max_connections.
        if usesPostgres { await postgresSlots.acquire() }
        defer { if usesPostgres { Task { await postgresSlots.release() } } }
        if usesPostgres {
            postgresURL = try PostgresTestDatabase.create()
            config.database = postgresURL
            // Many tests run at once against one test cluster.
            config.databaseMaxConnections = 6
        }
        defer { postgresURL.map(PostgresTestDatabase.drop) }
        configure(&config)
        let logger = Logger(label: "axon-test")
        let storage = try await AxonServer.openStorage(config)
        let server = try await AxonServer(config: config, storage: storage, logger: logger)
        try await server.application(logger: logger).test(.router) { client in
            try await body(TestServer(client: client, server: server))
        }
        try await storage.close()
    }

    struct Reply {
        let status: Int
        let json: JSON
        let headers: HTTPFields
        let raw: String

        var errcode: String? { json["errcode"]?.stringValue }
    }

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: JSON? = nil, body: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        let text = body ?? json.map { $0.encodedString() }
        if text != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: path, method: method, headers: headers, body: text.map { ByteBuffer(string: $0) })
        let raw = String(buffer: response.body)
        let parsed = (try? JSONParser.parse(raw)) ?? .null
        return Reply(status: Int(response.status.code), json: parsed, headers: response.headers, raw: raw)
    }

    struct Session {
        let userID: String
        let token: String
        let deviceID: String
    }

    /// Registers through the real UIA flow: the 401 challenge, then m.login.dummy.
    func register(_ username: String, password: String = "correct horse", device: String? = nil) async throws -> Session {
        var body: JSON = ["username": .string(username), "password": .string(password)]
        if let device { body["device_id"] = .string(device) }
        let challenge = try await call(.post, "/_matrix/client/v3/register", json: body)
        #expect(challenge.status == 401)
        body["auth"] = ["type": "m.login.dummy", "session": challenge.json["session"] ?? .null]
        let reply = try await call(.post, "/_matrix/client/v3/register", json: body)
        try #require(reply.status == 200, "register \(username): \(reply.raw)")
        return Session(
            userID: reply.json["user_id"]!.stringValue!, token: reply.json["access_token"]!.stringValue!,
            deviceID: reply.json["device_id"]!.stringValue!)
    }

    func login(_ user: String, password: String = "correct horse", device: String? = nil) async throws -> Reply {
        var body: JSON = ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": .string(user)], "password": .string(password)]
        if let device { body["device_id"] = .string(device) }
        return try await call(.post, "/_matrix/client/v3/login", json: body)
    }

    func passwordAuth(_ user: String, _ password: String = "correct horse", session: JSON? = nil) -> JSON {
        var auth: JSON = ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": .string(user)], "password": .string(password)]
        if let session { auth["session"] = session }
        return auth
    }
}

extension TestServer {
    static func path(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
    }

    func createRoom(_ token: String, _ body: JSON = ["preset": "public_chat"]) async throws -> String {
        let reply = try await call(.post, "/_matrix/client/v3/createRoom", token: token, json: body)
        try #require(reply.status == 200, "createRoom: \(reply.raw)")
        return reply.json["room_id"]!.stringValue!
    }

    @discardableResult
    func send(_ token: String, _ roomID: String, _ body: String, txn: String = UUID().uuidString) async throws -> Reply {
        try await call(
            .put, "/_matrix/client/v3/rooms/\(Self.path(roomID))/send/m.room.message/\(txn)", token: token,
            json: ["msgtype": "m.text", "body": .string(body)])
    }

    /// Alice and Bob joined to a new room of Alice's, for tests of what Bob is told.
    func aliceAndBobInARoom() async throws -> (alice: Session, bob: Session, roomID: String) {
        let alice = try await register("alice")
        let bob = try await register("bob")
        let roomID = try await createRoom(alice.token)
        _ = try await call(.post, room(roomID, "/join"), token: bob.token, json: [:])
        return (alice, bob, roomID)
    }

    /// An HTTP pusher for `url`, optionally with a profile tag.
    static func httpPusher(_ url: String, profileTag: String? = nil) -> JSON {
        var pusher: JSON = [
            "kind": "http", "app_id": "org.example.app", "pushkey": "k", "app_display_name": "App", "device_display_name": "Phone",
            "lang": "en", "data": ["url": .string(url)],
        ]
        if let profileTag { pusher["profile_tag"] = .string(profileTag) }
        return pusher
    }

    /// A server admin, `@root:localhost`, and its access token.
    func registerAdmin() async throws -> String {
        _ = try await server.accounts.register(
            userID: try server.accounts.validatedNewUserID("root"), password: "correct horse", isAdmin: true, login: nil)
        return try #require(try await login("root").json["access_token"]?.stringValue)
    }

    func room(_ roomID: String, _ rest: String) -> String {
        "/_matrix/client/v3/rooms/\(Self.path(roomID))\(rest)"
    }

    func messages(_ token: String, _ roomID: String, query: String = "dir=b&limit=50") async throws -> Reply {
        try await call(.get, room(roomID, "/messages?\(query)"), token: token)
    }

    func bodies(_ reply: Reply) -> [String] {
        reply.json["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
    }
}
