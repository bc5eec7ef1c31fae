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
}
