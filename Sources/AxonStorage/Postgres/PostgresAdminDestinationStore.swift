import PostgresNIO

extension PostgresStorage {
    private static let destinationSummary = """
        SELECT destination, CASE WHEN failures > 0 THEN coalesce(last_failure_ts, 0) ELSE 0 END AS retry_last_ts,
          CASE WHEN failures > 0 THEN greatest(retry_at - coalesce(last_failure_ts, retry_at), 0) ELSE 0 END AS retry_interval,
          failure_ts, last_success_seq AS last_successful_stream_ordering
        FROM federation_destinations
        """

    public func destinations(_ query: DestinationQuery) async throws -> (destinations: [DestinationStatus], total: Int) {
        var filter = ""
        var bindings = PostgresBindings()
        if let search = query.search, !search.isEmpty {
            bindings.append(search.lowercased())
            filter = "WHERE strpos(lower(destination), $1) > 0"
        }
        let total = try await count("SELECT COUNT(*) FROM (\(Self.destinationSummary)) s \(filter)", bindings)
        let destinations = try await page(
            "SELECT * FROM (\(Self.destinationSummary)) s \(filter) \(query.clause())", bindings, limit: query.limit, offset: query.from,
            Self.destinationStatus)
        return (destinations, total)
    }

    public func destination(_ name: String) async throws -> DestinationStatus? {
        var bindings = PostgresBindings()
        bindings.append(name)
        for try await row in try await client.query(
            PostgresQuery(unsafeSQL: "SELECT * FROM (\(Self.destinationSummary)) s WHERE destination = $1", binds: bindings), logger: logger)
        {
            return try Self.destinationStatus(row)
        }
        return nil
    }

    static func destinationStatus(_ row: PostgresRow) throws -> DestinationStatus {
        let (destination, last, interval, failure, success) = try row.decode((String, Int64, Int64, Int64?, Int64?).self)
        return DestinationStatus(
            destination: destination, retryLastTS: last, retryInterval: interval, failureTS: failure, lastSuccessfulStreamOrdering: success)
    }

    public func destinationRooms(_ name: String, from: Int, limit: Int, descending: Bool) async throws
        -> (rooms: [(roomID: String, streamOrdering: Int64)], total: Int)
    {
        let suffix = ":" + name
        let total = try await query(
            """
            SELECT COUNT(DISTINCT room_id) FROM room_memberships WHERE membership = 'join' AND right(user_id, length(\(suffix))) = \(suffix)
            """
        ).first.map { try $0.decode(Int64.self) } ?? 0
        let direction = descending ? "DESC" : "ASC"
        let rows = try await query(
            """
            SELECT r.room_id, coalesce((SELECT MAX(e.stream_ordering) FROM events e WHERE e.room_id = r.room_id
              AND e.event_id NOT IN (SELECT event_id FROM federation_outbox WHERE destination = \(name) AND event_id IS NOT NULL)), 0)
            FROM (SELECT DISTINCT room_id FROM room_memberships WHERE membership = 'join' AND right(user_id, length(\(suffix))) = \(suffix)) r
            ORDER BY r.room_id \(unescaped: direction) LIMIT \(limit) OFFSET \(from)
            """)
        return (try rows.map { row in
            let (roomID, stream) = try row.decode((String, Int64).self)
            return (roomID: roomID, streamOrdering: stream)
        }, Int(total))
    }

    public func resetDestination(_ name: String) async throws -> Bool {
        !(try await query(
            "UPDATE federation_destinations SET failures = 0, retry_at = 0, failure_ts = NULL WHERE destination = \(name) RETURNING destination"
        ).isEmpty)
    }
}
