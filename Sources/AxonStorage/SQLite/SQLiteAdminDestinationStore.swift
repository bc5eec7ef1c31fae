import GRDB

extension SQLiteStorage {
    private static let destinationSummary = """
        SELECT destination, CASE WHEN failures > 0 THEN coalesce(last_failure_ts, 0) ELSE 0 END AS retry_last_ts,
          CASE WHEN failures > 0 THEN max(retry_at - coalesce(last_failure_ts, retry_at), 0) ELSE 0 END AS retry_interval,
          failure_ts, last_success_seq AS last_successful_stream_ordering
        FROM federation_destinations
        """

    public func destinations(_ query: DestinationQuery) async throws -> (destinations: [DestinationStatus], total: Int) {
        try await read { db in
            var filter = ""
            var arguments: [DatabaseValueConvertible] = []
            if let search = query.search, !search.isEmpty {
                filter = "WHERE instr(lower(destination), ?) > 0"
                arguments.append(search.lowercased())
            }
            let total = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM (\(Self.destinationSummary)) \(filter)", arguments: StatementArguments(arguments)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM (\(Self.destinationSummary)) \(filter) \(query.clause()) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            return (rows.map(Self.destinationStatus), total)
        }
    }

    public func destination(_ name: String) async throws -> DestinationStatus? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM (\(Self.destinationSummary)) WHERE destination = ?", arguments: [name]).map(Self.destinationStatus)
        }
    }

    static func destinationStatus(_ row: Row) -> DestinationStatus {
        DestinationStatus(
            destination: row["destination"], retryLastTS: row["retry_last_ts"], retryInterval: row["retry_interval"], failureTS: row["failure_ts"],
            lastSuccessfulStreamOrdering: row["last_successful_stream_ordering"])
    }

    public func destinationRooms(_ name: String, from: Int, limit: Int, descending: Bool) async throws
        -> (rooms: [(roomID: String, streamOrdering: Int64)], total: Int)
    {
        try await read { db in
            let suffix = ":" + name
            let rooms = """
                SELECT DISTINCT room_id FROM room_memberships WHERE membership = 'join' AND substr(user_id, -length(?)) = ?
                """
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(rooms))", arguments: [suffix, suffix]) ?? 0
            let direction = descending ? "DESC" : "ASC"
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.room_id, coalesce((SELECT MAX(e.stream_ordering) FROM events e WHERE e.room_id = r.room_id
                      AND e.event_id NOT IN (SELECT event_id FROM federation_outbox WHERE destination = ? AND event_id IS NOT NULL)), 0) AS stream
                    FROM (\(rooms)) r ORDER BY r.room_id \(direction) LIMIT ? OFFSET ?
                    """,
                arguments: [name, suffix, suffix, limit, from])
            return (rows.map { (roomID: $0["room_id"] as String, streamOrdering: $0["stream"] as Int64) }, total)
        }
    }

    public func resetDestination(_ name: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE federation_destinations SET failures = 0, retry_at = 0, failure_ts = NULL WHERE destination = ?").execute(arguments: [name])
            return db.changesCount > 0
        }
    }
}
