import MatrixModel
import Logging
import PostgresNIO

extension PostgresStorage {
    public func forwardExtremities(roomID: String) async throws -> [EventReference] {
        let logger = self.logger
        return try await withConnection { try await Self.forwardExtremities($0, roomID: roomID, logger: logger) }
    }

    static func forwardExtremities(_ connection: PostgresConnection, roomID: String, logger: Logger) async throws -> [EventReference] {
        try await connection.rows(
            """
            SELECT f.event_id, e.depth FROM forward_extremities f JOIN events e ON e.event_id = f.event_id
            WHERE f.room_id = \(roomID) ORDER BY e.depth DESC, e.stream_ordering DESC
            """, logger: logger
        ).map { row in
            let (eventID, depth) = try row.decode((String, Int64).self)
            return EventReference(eventID: eventID, depth: depth)
        }
    }

    public func prevEvents(of eventID: String) async throws -> [String] {
        try await query("SELECT prev_event_id FROM event_edges WHERE event_id = \(eventID) ORDER BY prev_event_id").map { try $0.decode(String.self) }
    }

    public func stateGroupBefore(eventID: String) async throws -> Int64? {
        try await query("SELECT state_group_before FROM events WHERE event_id = \(eventID)").first.flatMap { try $0.decode(Int64?.self) }
    }

    public func outliers(ids: [String]) async throws -> [OutlierEvent] {
        let logger = self.logger
        return try await withConnection { try await Self.outliers($0, ids: ids, logger: logger) }
    }

    static func outliers(_ connection: PostgresConnection, ids: [String], logger: Logger) async throws -> [OutlierEvent] {
        guard !ids.isEmpty else { return [] }
        return try await connection.rows(
            "SELECT event_id, room_id, kind, reason, json, state_group FROM event_outliers WHERE event_id = ANY(\(ids))", logger: logger
        ).map { row in
            let (eventID, roomID, kind, reason, json, stateGroup) = try row.decode((String, String, String, String?, String, Int64?).self)
            return OutlierEvent(
                pdu: PDU(eventID: eventID, json: try JSON.stored(json).objectValue ?? [:]), roomID: roomID,
                kind: OutlierKind(rawValue: kind) ?? .outlier, reason: reason, stateGroup: stateGroup)
        }
    }

    public func backwardExtremities(roomID: String, limit: Int) async throws -> [String] {
        try await query(
            """
            SELECT DISTINCT x.prev_event_id FROM event_edges x WHERE x.room_id = \(roomID)
            AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = x.prev_event_id) LIMIT \(limit)
            """
        ).map { try $0.decode(String.self) }
    }
}
