import AxonStorage
import MatrixModel
import Testing

@Suite struct SlidingSyncStoreTests {
    func record(_ roomID: String, _ sentUpTo: Int64? = nil, config: String = "c") -> SlidingSyncRoomRecord {
        SlidingSyncRoomRecord(roomID: roomID, sentUpTo: sentUpTo, config: config, extra: ["dm": false])
    }

    /// A position the client never acknowledged leaves no trace once an earlier one comes back;
    /// an acknowledged one folds everything before it, and survives a restart (another node).
    @Test(arguments: Backend.allCases)
    func positionsRollBackAndFold(backend: Backend) async throws {
        let db = try await backend.makeStorage()
        defer { db.cleanup() }
        let store = db.storage
        let connection = try await store.openSlidingSyncConnection(userID: "@u:x", deviceID: "D", connID: "main", now: 100, keepingAtMost: 3)
        let first = try await store.recordSlidingSyncPosition(
            connectionID: connection, parent: nil, streamPosition: 10, listsDigest: "d1", rooms: [record("!a:x"), record("!b:x")])
        func resume(_ pos: Int64, device: String = "D", conn: String = "main") async throws -> SlidingSyncResumption? {
            try await store.resumeSlidingSyncConnection(
                connectionID: connection, pos: pos, userID: "@u:x", deviceID: device, connID: conn, now: 200, unusedSince: 50)
        }
        #expect(try await resume(first) == SlidingSyncResumption(streamPosition: 10, listsDigest: "d1"))
        // Two answers to the same request (the client cancelled one): both are children of `first`.
        let lost = try await store.recordSlidingSyncPosition(
            connectionID: connection, parent: first, streamPosition: 12, listsDigest: "d2", rooms: [record("!a:x", config: "lost")])
        let kept = try await store.recordSlidingSyncPosition(
            connectionID: connection, parent: first, streamPosition: 13, listsDigest: "d3", rooms: [record("!b:x", 11, config: "kept")])
        #expect(lost != kept)
        #expect(try await resume(kept)?.streamPosition == 13)
        let rooms = try await store.slidingSyncRooms(connectionID: connection, roomIDs: ["!a:x", "!b:x", "!c:x"])
        #expect(rooms["!a:x"] == record("!a:x"))
        #expect(rooms["!b:x"] == record("!b:x", 11, config: "kept"))
        #expect(rooms["!c:x"] == nil)
        // `lost` and `first` are gone; numbers are never reused.
        #expect(try await resume(lost) == nil)
        #expect(try await resume(first) == nil)
        let after = try await store.recordSlidingSyncPosition(connectionID: connection, parent: kept, streamPosition: 14, listsDigest: "d4", rooms: [])
        #expect(after > kept)
        // Only this user's device and conn_id may resume it.
        #expect(try await resume(kept, device: "OTHER") == nil)
        #expect(try await resume(kept, conn: "other") == nil)

        try await store.close()
        let reopened = try await db.reopen()
        let again = try await reopened.resumeSlidingSyncConnection(
            connectionID: connection, pos: kept, userID: "@u:x", deviceID: "D", connID: "main", now: 300, unusedSince: 150)
        #expect(again?.listsDigest == "d3")
        #expect(try await reopened.slidingSyncRooms(connectionID: connection, roomIDs: ["!b:x"])["!b:x"]?.sentUpTo == 11)
        // Unused too long: forgotten.
        #expect(
            try await reopened.resumeSlidingSyncConnection(
                connectionID: connection, pos: kept, userID: "@u:x", deviceID: "D", connID: "main", now: 900, unusedSince: 800) == nil)
        // Opening the conn_id again starts afresh; a device keeps at most `keepingAtMost` connections.
        let fresh = try await reopened.openSlidingSyncConnection(userID: "@u:x", deviceID: "D", connID: "main", now: 1000, keepingAtMost: 3)
        #expect(fresh != connection)
        #expect(try await reopened.slidingSyncRooms(connectionID: fresh, roomIDs: ["!a:x", "!b:x"]).isEmpty)
        var others: [Int64] = []
        for index in 0..<3 {
            others.append(try await reopened.openSlidingSyncConnection(userID: "@u:x", deviceID: "D", connID: "c\(index)", now: 1001 + Int64(index), keepingAtMost: 3))
        }
        let oldestPos = try await reopened.recordSlidingSyncPosition(connectionID: others[0], parent: nil, streamPosition: 1, listsDigest: "", rooms: [])
        #expect(
            try await reopened.resumeSlidingSyncConnection(
                connectionID: others[0], pos: oldestPos, userID: "@u:x", deviceID: "D", connID: "c0", now: 1010, unusedSince: 0) != nil)
        await #expect(throws: (any Error).self) {
            _ = try await reopened.recordSlidingSyncPosition(connectionID: fresh, parent: nil, streamPosition: 1, listsDigest: "", rooms: [])
        }
        try await reopened.close()
    }
}
