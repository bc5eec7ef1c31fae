@testable import AxonServer
import MatrixModel
import Testing

extension FederationEDUTests {
    /// Synapse's destinations API over the real outbox: this server may connect to nothing,
    /// so what it queues for remote.example stays queued and every attempt fails (the
    /// sender's own attempts among them, whose times are real).
    @Test func destinationsShowTheirBackOffAndRooms() async throws {
        try await TestServer.run(configure: {
            $0.federationIPAllowlistOnly = true
            $0.federationIPAllowlist = []
        }) { server in
            let root = try await server.registerAdmin()
            let (alice, roomID, _) = try await sharedRoom(server)
            try await server.send(alice.token, roomID, "to remote")
            let base = "/_synapse/admin/v1/federation/destinations"
            #expect(try await server.call(.get, base, token: alice.token).status == 403)
            #expect(try await server.call(.get, base + "/\(RoomGraphTests.remote)", token: root).status == 200)

            _ = try await server.server.storage.failOutbound(destination: RoomGraphTests.remote, retryAt: 10_000, now: 4_000)
            _ = try await server.server.storage.failOutbound(destination: RoomGraphTests.remote, retryAt: 20_000, now: 5_000)
            let list = try await server.call(.get, base + "?destination=REMOTE", token: root)
            #expect(list.json["total"] == 1, "\(list.raw)")
            let failing = try #require(list.json["destinations"]?[0])
            #expect(failing["destination"] == .string(RoomGraphTests.remote) && failing["last_successful_stream_ordering"] == .null)
            #expect((failing["retry_last_ts"]?.intValue ?? 0) >= 5_000 && (failing["retry_interval"]?.intValue ?? 0) > 0, "\(failing)")
            #expect((failing["failure_ts"]?.intValue ?? 0) > 0)
            let rooms = try await server.call(.get, base + "/\(RoomGraphTests.remote)/rooms", token: root)
            #expect(rooms.json["total"] == 1 && rooms.json["rooms"]?[0]?["room_id"] == .string(roomID), "\(rooms.raw)")

            // After a reset the sender tries at once, and here fails again (an attempt under way
            // may land just after it): any failure run shown is a new one, not the one before.
            #expect(try await server.call(.post, base + "/\(RoomGraphTests.remote)/reset_connection", token: root, json: [:]).status == 200)
            let reset = try await server.call(.get, base + "/\(RoomGraphTests.remote)", token: root)
            #expect(reset.json["failure_ts"] == .null || reset.json["failure_ts"] != failing["failure_ts"], "\(reset.raw)")
            #expect(try await server.call(.get, base + "/unknown.example", token: root).status == 404)
            #expect(try await server.call(.get, base + "?order_by=colour", token: root).status == 400)
        }
    }
}
