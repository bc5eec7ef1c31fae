import GRDB
import MatrixModel

extension SQLiteStorage {
    public func pushRules(userID: String) async throws -> JSONObject? {
        try await pushRules(for: [userID])[userID]
    }

    public func pushRules(for userIDs: [String]) async throws -> [String: JSONObject] {
        try await caches.pushRules(userIDs) { missing in try await read { db in try Self.pushRules(db, for: missing) } }
    }

    static func pushRules(_ db: Database, for userIDs: [String]) throws -> [String: JSONObject] {
        var documents: [String: JSONObject] = [:]
        // Chunks keep each statement under SQLite's limit on bound parameters.
        for chunk in stride(from: 0, to: userIDs.count, by: 500).map({ Array(userIDs[$0..<min($0 + 500, userIDs.count)]) }) {
            for row in try Row.fetchAll(
                db, sql: "SELECT user_id, rules FROM push_rules WHERE user_id IN (\(databaseQuestionMarks(count: chunk.count)))",
                arguments: StatementArguments(chunk))
            {
                documents[row["user_id"]] = try JSON.stored(row["rules"]).objectValue
            }
        }
        return documents
    }

    public func updatePushRules(
        userID: String, _ change: @escaping @Sendable (JSONObject?) throws -> (document: JSONObject, rules: JSON)
    ) async throws -> Int64 {
        try await write { db in
            let current = try String.fetchOne(db.cachedStatement(sql: "SELECT rules FROM push_rules WHERE user_id = ?"), arguments: [userID])
                .flatMap { try JSON.stored($0).objectValue }
            let (document, rules) = try change(current)
            try db.cachedStatement(sql: "INSERT INTO push_rules (user_id, rules) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules").execute(arguments: [userID, JSON.object(document).encodedString()])
            return try Self.putAccountData(db, userID: userID, roomID: nil, type: "m.push_rules", content: rules)
        }
    }

    /// Where the user has read up to for the push action `a`: their latest m.read or
    /// m.read.private receipt, unthreaded or in a's thread, or their own latest event.
    private static let readPosition = """
        MAX(
            COALESCE((SELECT MAX(e2.stream_ordering) FROM receipts r JOIN events e2 ON e2.event_id = r.event_id
                WHERE r.room_id = a.room_id AND r.user_id = a.user_id AND r.receipt_type IN ('m.read', 'm.read.private')
                AND r.thread_id IN ('', a.thread_id)), 0),
            COALESCE((SELECT MAX(e3.stream_ordering) FROM events e3 WHERE e3.room_id = a.room_id AND e3.sender = a.user_id), 0))
        """

    /// Every notification of user ?1 before position ?2: their own rows, and the shared rows
    /// of the rooms they are joined to, from the events since their join that nobody
    /// excluded them from.
    static let userPushActions = """
        SELECT event_id, user_id, room_id, stream_ordering, thread_id, highlight, actions FROM event_push_actions
        WHERE user_id = ?1 AND stream_ordering < ?2
        UNION ALL
        SELECT s.event_id, m.user_id, s.room_id, s.stream_ordering, s.thread_id, s.highlight, s.actions FROM room_memberships m
        JOIN room_push_actions s ON s.room_id = m.room_id AND s.stream_ordering < ?2
        WHERE m.user_id = ?1 AND \(sharedActionReachesMember)
        """

    public func notificationCounts(userID: String, roomID: String) async throws -> [NotificationCount] {
        try await read { db in try Self.notificationCounts(db, userID: userID, roomID: roomID) }
    }

    static func notificationCounts(_ db: Database, userID: String, roomID: String) throws -> [NotificationCount] {
        // The unthreaded bound is computed once and limits the index range; the
        // per-thread receipts are checked only for rows above it.
        let bound =
            try Int64.fetchOne(db.cachedStatement(sql: """
                    SELECT MAX(
                        COALESCE((SELECT MAX(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
                            WHERE r.room_id = ?1 AND r.user_id = ?2 AND r.receipt_type IN ('m.read', 'm.read.private')
                            AND r.thread_id = ''), 0),
                        COALESCE((SELECT MAX(stream_ordering) FROM events WHERE room_id = ?1 AND sender = ?2), 0))
                    """),
                arguments: [roomID, userID]) ?? 0
        // Thread receipts are few: a derived table joined once, not a subquery per row.
        return try Row.fetchAll(db.cachedStatement(sql: """
                SELECT a.thread_id, COUNT(*) AS n, SUM(a.highlight) AS h FROM (
                    SELECT thread_id, highlight, stream_ordering FROM event_push_actions
                    WHERE user_id = ?1 AND room_id = ?2 AND stream_ordering > ?3
                    UNION ALL
                    SELECT s.thread_id, s.highlight, s.stream_ordering FROM room_push_actions s
                    JOIN room_memberships m ON m.room_id = s.room_id AND m.user_id = ?1
                    WHERE s.room_id = ?2 AND s.stream_ordering > ?3 AND \(sharedActionReachesMember)
                ) a
                LEFT JOIN (SELECT r.thread_id, MAX(e.stream_ordering) AS pos FROM receipts r JOIN events e ON e.event_id = r.event_id
                    WHERE r.room_id = ?2 AND r.user_id = ?1 AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id != ''
                    GROUP BY r.thread_id) t ON t.thread_id = a.thread_id
                WHERE a.stream_ordering > COALESCE(t.pos, 0)
                GROUP BY a.thread_id
                """),
            arguments: [userID, roomID, bound]
        ).map { NotificationCount(threadID: $0["thread_id"], notifications: $0["n"], highlights: $0["h"]) }
    }

    public func notifications(userID: String, before: Int64?, limit: Int, highlightsOnly: Bool) async throws -> [StoredNotification] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.actions AS push_actions, a.stream_ordering <= \(Self.readPosition) AS is_read, e.*
                    FROM (\(Self.userPushActions)) a JOIN events e ON e.event_id = a.event_id
                    \(highlightsOnly ? "WHERE a.highlight = 1" : "")
                    ORDER BY a.stream_ordering DESC LIMIT ?3
                    """,
                arguments: [userID, before ?? Int64.max, limit]
            ).map { row in
                StoredNotification(
                    event: try SQLiteRoomQueries.storedEvent(row), actions: try JSON.stored(row["push_actions"]), read: row["is_read"])
            }
        }
    }

    public func pushDeliveries(eventID: String) async throws -> [PushDelivery] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT a.event_id, a.thread_id, a.highlight, a.actions, p.* FROM event_push_actions a
                    JOIN pushers p ON p.user_id = a.user_id WHERE a.event_id = ?1
                    UNION ALL
                    SELECT s.event_id, s.thread_id, s.highlight, s.actions, p.* FROM room_push_actions s
                    JOIN room_memberships m ON m.room_id = s.room_id
                    JOIN pushers p ON p.user_id = m.user_id
                    WHERE s.event_id = ?1 AND \(sharedActionReachesMember)
                    """),
                arguments: [eventID]
            ).map { row in
                let pusher = try Self.pusher(row)
                return PushDelivery(
                    action: PushActionRecord(
                        userID: pusher.userID, eventID: row["event_id"], threadID: row["thread_id"], highlight: row["highlight"],
                        actions: try JSON.stored(row["actions"])),
                    pusher: pusher)
            }
        }
    }

    public func pushers(userID: String) async throws -> [Pusher] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM pushers WHERE user_id = ? ORDER BY created_ts"), arguments: [userID]).map(Self.pusher)
        }
    }

    public func setPusher(_ pusher: Pusher, append: Bool) async throws {
        try await write { db in
            if !append {
                try db.cachedStatement(sql: "DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id != ?").execute(arguments: [pusher.appID, pusher.pushkey, pusher.userID])
            }
            try db.cachedStatement(sql: """
                    INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang,
                        data, device_id, created_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET kind = excluded.kind,
                        app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
                        profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data, device_id = excluded.device_id
                    """).execute(arguments: [
                    pusher.userID, pusher.appID, pusher.pushkey, pusher.kind, pusher.appDisplayName, pusher.deviceDisplayName,
                    pusher.profileTag, pusher.lang, pusher.data.encodedString(), pusher.deviceID, pusher.createdAt,
                ])
        }
    }

    public func deletePusher(userID: String, appID: String, pushkey: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?").execute(arguments: [userID, appID, pushkey])
        }
    }

    static func pusher(_ row: Row) throws -> Pusher {
        try Pusher(
            userID: row["user_id"], appID: row["app_id"], pushkey: row["pushkey"], kind: row["kind"],
            appDisplayName: row["app_display_name"], deviceDisplayName: row["device_display_name"], profileTag: row["profile_tag"],
            lang: row["lang"], data: try JSON.stored(row["data"]), deviceID: row["device_id"], createdAt: row["created_ts"])
    }

    public func search(_ query: SearchQuery) async throws -> (hits: [SearchHit], count: Int) {
        guard !query.words.isEmpty, !query.roomIDs.isEmpty, !query.keys.isEmpty else { return ([], 0) }
        // Each word a quoted prefix term, all required: `"lunch"* "plan"*`.
        let match = query.words.map { "\"\($0)\"*" }.joined(separator: " ")
        let rooms = databaseQuestionMarks(count: query.roomIDs.count)
        let keys = databaseQuestionMarks(count: query.keys.count)
        let filter = "event_search MATCH ? AND room_id IN (\(rooms)) AND key IN (\(keys))"
        let filterArguments = StatementArguments([match]) + StatementArguments(query.roomIDs) + StatementArguments(query.keys)
        return try await readOffPool { db in
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_search WHERE \(filter)", arguments: filterArguments) ?? 0
            let rows: [Row]
            switch query.order {
            case .rank:
                rows = try Row.fetchAll(
                    db,
                    sql: "SELECT event_id, -bm25(event_search) AS rank FROM event_search WHERE \(filter) ORDER BY bm25(event_search), stream_ordering DESC LIMIT ? OFFSET ?",
                    arguments: filterArguments + [query.limit, query.offset])
            case .recent:
                rows = try Row.fetchAll(
                    db,
                    sql: "SELECT event_id, -bm25(event_search) AS rank FROM event_search WHERE \(filter) AND stream_ordering < ? ORDER BY stream_ordering DESC LIMIT ?",
                    arguments: filterArguments + [query.before ?? Int64.max, query.limit])
            }
            let ids: [String] = rows.map { $0["event_id"] }
            let events = Dictionary(try SQLiteRoomQueries.events(db, ids: ids).map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { a, _ in a })
            let hits = rows.compactMap { row -> SearchHit? in
                guard let event = events[row["event_id"]] else { return nil }
                return SearchHit(event: event, rank: row["rank"])
            }
            return (hits, count)
        }
    }
}
