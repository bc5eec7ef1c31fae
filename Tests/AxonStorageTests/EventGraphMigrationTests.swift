import Foundation
import GRDB
import Testing

@testable import AxonStorage

/// Rooms stored before the graph existed were lines; the migration gives each event its one
/// prev edge, its state before, and each room its head as the one forward extremity.
@Suite struct EventGraphMigrationTests {
    @Test func linesBecomeGraphs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("axon.db").path
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteMigrations.migrator.migrate(pool, upTo: "014_server_keys")
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO rooms (room_id, version, creator, latest_event_id, latest_depth) VALUES ('!r', '10', '@a', '$3', 3)")
                for (index, group) in [(1, 10), (2, 11), (3, 11)] {
                    try db.execute(
                        sql: """
                            INSERT INTO events (event_id, room_id, stream_ordering, depth, type, sender, origin_server_ts, json, state_group)
                            VALUES (?, '!r', ?, ?, 'm.room.message', '@a', 0, '{}', ?)
                            """,
                        arguments: ["$\(index)", index * 10, index, group])
                }
            }
        }
        let storage = try SQLiteStorage(path: path)
        #expect(try await storage.forwardExtremities(roomID: "!r").map(\.eventID) == ["$3"])
        #expect(try await storage.prevEvents(of: "$1") == [])
        #expect(try await storage.prevEvents(of: "$3") == ["$2"])
        #expect(try await storage.stateGroupBefore(eventID: "$1") == nil)
        #expect(try await storage.stateGroupBefore(eventID: "$2") == 10)
        #expect(try await storage.stateGroupBefore(eventID: "$3") == 11)
        try await storage.close()
    }
}
