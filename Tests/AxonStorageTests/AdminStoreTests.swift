import AxonStorage
import MatrixModel
import Testing

@Suite struct AdminStoreTests {
    /// A v2 room deletion is acknowledged before it runs; its record outlives the process so
    /// a restart finds what is unfinished.
    @Test(arguments: Backend.allCases)
    func roomTasksSurviveARestartUntilFinished(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        var running = AdminRoomTask(
            id: "d1", kind: .delete, roomID: "!a:x", status: "shutting_down", result: ["request": ["block": true]], createdAt: 10)
        try await db.storage.saveAdminRoomTask(running)
        try await db.storage.saveAdminRoomTask(AdminRoomTask(id: "p1", kind: .purgeHistory, roomID: "!a:x", status: "complete", createdAt: 11))
        try await db.storage.saveAdminRoomTask(AdminRoomTask(id: "d0", kind: .delete, roomID: "!a:x", status: "failed", error: "no", createdAt: 5))
        try await db.storage.close()

        let reopened = try await db.reopen()
        #expect(try await reopened.unfinishedAdminRoomTasks() == [running])
        #expect(try await reopened.adminRoomTasks(roomID: "!a:x", kind: .delete).map(\.id) == ["d1", "d0"])
        running.status = "complete"
        running.result = ["shutdown_room": ["kicked_users": ["@u:x"]]]
        try await reopened.saveAdminRoomTask(running)
        #expect(try await reopened.adminRoomTask(id: "d1") == running)
        #expect(try await reopened.unfinishedAdminRoomTasks().isEmpty)
        #expect(try await reopened.adminRoomTask(id: "nope") == nil)

        #expect(try await reopened.roomBlock(roomID: "!b:x") == nil)
        try await reopened.setRoomBlock(roomID: "!b:x", by: "@admin:x")
        try await reopened.setRoomBlock(roomID: "!b:x", by: "@other:x")
        #expect(try await reopened.roomBlock(roomID: "!b:x") == "@other:x")
        try await reopened.setRoomBlock(roomID: "!b:x", by: nil)
        #expect(try await reopened.roomBlock(roomID: "!b:x") == nil)
        try await reopened.close()
    }

    @Test(arguments: Backend.allCases)
    func destinationsRecordTheirFailuresAndSuccesses(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        try await store.enqueueOutbound(destinations: ["a.example", "b.example"], eventID: "$e1", edu: nil, now: 1)
        #expect(try await store.failOutbound(destination: "a.example", retryAt: 10_000, now: 4_000) == 1)
        #expect(try await store.failOutbound(destination: "a.example", retryAt: 20_000, now: 5_000) == 2)
        let failing = DestinationStatus(
            destination: "a.example", retryLastTS: 5_000, retryInterval: 15_000, failureTS: 4_000, lastSuccessfulStreamOrdering: nil)
        #expect(try await store.destination("a.example") == failing)
        var query = DestinationQuery()
        query.order = .failureTS
        #expect(try await store.destinations(query).destinations.map(\.destination) == ["a.example", "b.example"])
        query.search = "B.EX"
        #expect(try await store.destinations(query) == ([DestinationStatus(
            destination: "b.example", retryLastTS: 0, retryInterval: 0, failureTS: nil, lastSuccessfulStreamOrdering: nil)], 1))

        #expect(try await store.resetDestination("a.example"))
        #expect(try await store.destination("a.example")?.failureTS == nil)
        #expect(try await store.resetDestination("unknown.example") == false)
        let batch = try await store.outboundBatch(destination: "a.example", pdus: 10, edus: 10)
        try await store.completeOutbound(destination: "a.example", sequences: batch.sequences)
        #expect(try await store.destination("a.example")?.lastSuccessfulStreamOrdering == batch.sequences.max())
    }
}
