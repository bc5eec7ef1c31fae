import GRDB
import MatrixModel

extension SQLiteStorage {
    public func forwardExtremities(roomID: String) async throws -> [EventReference] {
        try await read { db in try Self.forwardExtremities(db, roomID: roomID) }
    }

    static func forwardExtremities(_ db: Database, roomID: String) throws -> [EventReference] {
        try Row.fetchAll(db.cachedStatement(sql: """
                SELECT f.event_id, e.depth FROM forward_extremities f JOIN events e ON e.event_id = f.event_id
                WHERE f.room_id = ? ORDER BY e.depth DESC, e.stream_ordering DESC
                """),
            arguments: [roomID]
        ).map { EventReference(eventID: $0["event_id"], depth: $0["depth"]) }
    }

    public func prevEvents(of eventID: String) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT prev_event_id FROM event_edges WHERE event_id = ? ORDER BY prev_event_id"), arguments: [eventID])
        }
    }

    public func stateGroupBefore(eventID: String) async throws -> Int64? {
        try await read { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT state_group_before FROM events WHERE event_id = ?"), arguments: [eventID])
        }
    }

    public func outliers(ids: [String]) async throws -> [OutlierEvent] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in try Self.outliers(db, ids: ids) }
    }

    static func outliers(_ db: Database, ids: [String]) throws -> [OutlierEvent] {
        try ids.compactMap { id in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM event_outliers WHERE event_id = ?"), arguments: [id]).map { row in
                OutlierEvent(
                    pdu: PDU(eventID: row["event_id"], json: try JSON.stored(row["json"]).objectValue ?? [:]), roomID: row["room_id"],
                    kind: OutlierKind(rawValue: row["kind"]) ?? .outlier, reason: row["reason"], stateGroup: row["state_group"])
            }
        }
    }

    public func backwardExtremities(roomID: String, limit: Int) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: """
                    SELECT DISTINCT x.prev_event_id FROM event_edges x WHERE x.room_id = ?
                    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = x.prev_event_id) LIMIT ?
                    """),
                arguments: [roomID, limit])
        }
    }
}
