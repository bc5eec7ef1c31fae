import GRDB

extension SQLiteStorage {
    public func eventReports(_ query: ReportQuery) async throws -> (reports: [ContentReport], total: Int) {
        try await read { db in
            var conditions = ["event_id IS NOT NULL"]
            var arguments: [DatabaseValueConvertible] = []
            for (column, value) in [("room_id", query.roomID), ("reporter", query.reporter), ("user_id", query.eventSender)] {
                guard let value else { continue }
                conditions.append("\(column) = ?")
                arguments.append(value)
            }
            let filter = "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM reports \(filter)", arguments: StatementArguments(arguments)) ?? 0
            let direction = query.newestFirst ? "DESC" : "ASC"
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM reports \(filter) ORDER BY created_ts \(direction), id \(direction) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            return (rows.map(Self.report), total)
        }
    }

    public func report(id: Int64) async throws -> ContentReport? {
        try await read { db in try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM reports WHERE id = ?"), arguments: [id]).map(Self.report) }
    }

    public func deleteReport(id: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM reports WHERE id = ?").execute(arguments: [id])
            return db.changesCount > 0
        }
    }

    static func report(_ row: Row) -> ContentReport {
        var report = ContentReport(
            reporter: row["reporter"], roomID: row["room_id"], eventID: row["event_id"], userID: row["user_id"], reason: row["reason"],
            createdAt: row["created_ts"])
        report.id = row["id"]
        return report
    }
}
