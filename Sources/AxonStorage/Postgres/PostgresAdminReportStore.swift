import PostgresNIO

extension PostgresStorage {
    static let reportColumns = "id, reporter, room_id, event_id, user_id, reason, created_ts"

    public func eventReports(_ query: ReportQuery) async throws -> (reports: [ContentReport], total: Int) {
        var conditions = ["event_id IS NOT NULL"]
        var bindings = PostgresBindings()
        for (column, value) in [("room_id", query.roomID), ("reporter", query.reporter), ("user_id", query.eventSender)] {
            guard let value else { continue }
            bindings.append(value)
            conditions.append("\(column) = $\(bindings.count)")
        }
        let filter = "WHERE " + conditions.joined(separator: " AND ")
        let total = try await count("SELECT COUNT(*) FROM reports \(filter)", bindings)
        let direction = query.newestFirst ? "DESC" : "ASC"
        let reports = try await page(
            "SELECT \(Self.reportColumns) FROM reports \(filter) ORDER BY created_ts \(direction), id \(direction)", bindings,
            limit: query.limit, offset: query.from, Self.report)
        return (reports, total)
    }

    public func report(id: Int64) async throws -> ContentReport? {
        try await query("SELECT \(unescaped: Self.reportColumns) FROM reports WHERE id = \(id)").first.map(Self.report)
    }

    public func deleteReport(id: Int64) async throws -> Bool {
        !(try await query("DELETE FROM reports WHERE id = \(id) RETURNING id").isEmpty)
    }

    static func report(_ row: PostgresRow) throws -> ContentReport {
        let (id, reporter, roomID, eventID, userID, reason, created) = try row.decode(
            (Int64, String, String?, String?, String?, String?, Int64).self)
        var report = ContentReport(reporter: reporter, roomID: roomID, eventID: eventID, userID: userID, reason: reason, createdAt: created)
        report.id = id
        return report
    }
}
