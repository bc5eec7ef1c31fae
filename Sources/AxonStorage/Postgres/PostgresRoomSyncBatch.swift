import MatrixModel
import PostgresNIO

extension PostgresStorage {
    /// Four prepared statements (three without unread counts) on one connection, whatever the
    /// number of rooms: each part for every room at once (`LATERAL` keeps the per-room index
    /// seeks and limits).
    public func roomSyncBatch(
        userID: String, roomIDs: [String], upTo: Int64, timelineLimit: Int, now: Int64, unreadCounts: Bool
    ) async throws -> RoomSyncBatch {
        guard !roomIDs.isEmpty else { return RoomSyncBatch() }
        let limit = max(timelineLimit, 1)
        let logger = self.logger
        let tickets = caches.timelineTickets(roomIDs)
        let (entries, batch) = try await withConnection { connection -> ([String: [TimelineEntry]], RoomSyncBatch) in
            var entries: [String: [TimelineEntry]] = Dictionary(roomIDs.map { ($0, []) }, uniquingKeysWith: { first, _ in first })
            var batch = RoomSyncBatch()
            for row in try await Self.prepared(
                BatchTimelinesQuery.self, BatchTimelinesQuery.make(roomIDs: roomIDs, upTo: upTo, limit: limit), on: connection, logger: logger)
            {
                let (roomID, position, eventID) = try row.decode((String, Int64, String).self)
                entries[roomID, default: []].append(TimelineEntry(position: position, eventID: eventID))
            }
            for row in try await Self.prepared(
                BatchReceiptsQuery.self, BatchReceiptsQuery.make(roomIDs: roomIDs, upTo: upTo), on: connection, logger: logger)
            {
                let receipt = try Self.receipt(row)
                batch.receipts[receipt.roomID, default: []].append(receipt)
            }
            for row in try await Self.prepared(
                BatchTypingQuery.self, BatchTypingQuery.make(roomIDs: roomIDs, now: now), on: connection, logger: logger)
            {
                let (roomID, user) = try row.decode((String, String).self)
                batch.typing[roomID, default: []].append(user)
            }
            for row in try await !unreadCounts ? [] : Self.prepared(
                UnreadCountsQuery.self, UnreadCountsQuery.make(userID: userID, roomIDs: roomIDs), on: connection,
                logger: logger)
            {
                let (roomID, thread, count, highlights) = try row.decode((String, String, Int64, Int64).self)
                batch.notificationCounts[roomID, default: []].append(
                    NotificationCount(threadID: thread, notifications: Int(count), highlights: Int(highlights)))
            }
            return (entries, batch)
        }
        var result = batch
        for roomID in roomIDs {
            if result.receipts[roomID] == nil { result.receipts[roomID] = [] }
            if result.typing[roomID] == nil { result.typing[roomID] = [] }
            if unreadCounts, result.notificationCounts[roomID] == nil { result.notificationCounts[roomID] = [] }
        }
        result.timelines = try await caches.timelines(entries, upTo: upTo, limit: limit, tickets: tickets) { try await events(ids: $0) }
        return result
    }
}

/// Each room's newest events, newest first per room (as `RoomEventIDsQuery` reads one room's).
enum BatchTimelinesQuery: PreparedQuery {
    static func make(roomIDs: [String], upTo: Int64, limit: Int) -> PostgresQuery {
        """
        SELECT r.room_id, e.stream_ordering, e.event_id FROM unnest(\(roomIDs)::text[]) AS r(room_id)
        CROSS JOIN LATERAL (SELECT stream_ordering, event_id FROM events WHERE room_id = r.room_id AND stream_ordering > -1
            AND stream_ordering <= \(upTo) ORDER BY stream_ordering DESC LIMIT \(limit)) e
        ORDER BY r.room_id, e.stream_ordering DESC
        """
    }
    static let sql = make(roomIDs: [], upTo: 0, limit: 0).sql
}

enum BatchReceiptsQuery: PreparedQuery {
    static func make(roomIDs: [String], upTo: Int64) -> PostgresQuery {
        """
        SELECT \(unescaped: PostgresStorage.receiptColumns) FROM receipts WHERE room_id = ANY(\(roomIDs))
        AND stream_ordering > -1 AND stream_ordering <= \(upTo) ORDER BY stream_ordering
        """
    }
    static let sql = make(roomIDs: [], upTo: 0).sql
}

enum BatchTypingQuery: PreparedQuery {
    static func make(roomIDs: [String], now: Int64) -> PostgresQuery {
        "SELECT room_id, user_id FROM typing WHERE room_id = ANY(\(roomIDs)) AND expires_ts > \(now) ORDER BY room_id, user_id"
    }
    static let sql = make(roomIDs: [], now: 0).sql
}

/// `notificationCounts` for one room or many: per room, its unthreaded bound (the user's latest
/// main-timeline receipt or own event), then the counts per thread above it and above that
/// thread's receipt.
enum UnreadCountsQuery: PreparedQuery {
    static func make(userID: String, roomIDs: [String]) -> PostgresQuery {
        """
        SELECT r.room_id, c.thread_id, c.n, c.h FROM unnest(\(roomIDs)::text[]) AS r(room_id)
        CROSS JOIN LATERAL (SELECT GREATEST(
            COALESCE((SELECT MAX(e.stream_ordering) FROM receipts rc JOIN events e ON e.event_id = rc.event_id
                WHERE rc.room_id = r.room_id AND rc.user_id = \(userID) AND rc.receipt_type IN ('m.read', 'm.read.private')
                AND rc.thread_id = ''), 0),
            COALESCE((SELECT MAX(stream_ordering) FROM events WHERE room_id = r.room_id AND sender = \(userID)), 0)) AS pos) b
        CROSS JOIN LATERAL (
            SELECT a.thread_id, COUNT(*) AS n, SUM(a.highlight::INT)::BIGINT AS h FROM (
                SELECT thread_id, highlight, stream_ordering FROM event_push_actions
                WHERE user_id = \(userID) AND room_id = r.room_id AND stream_ordering > b.pos
                UNION ALL
                SELECT s.thread_id, s.highlight, s.stream_ordering FROM room_push_actions s
                JOIN room_memberships m ON m.room_id = s.room_id AND m.user_id = \(userID)
                WHERE s.room_id = r.room_id AND s.stream_ordering > b.pos AND \(unescaped: sharedActionReachesMember)
            ) a
            LEFT JOIN (SELECT rt.thread_id, MAX(e.stream_ordering) AS pos FROM receipts rt JOIN events e ON e.event_id = rt.event_id
                WHERE rt.room_id = r.room_id AND rt.user_id = \(userID) AND rt.receipt_type IN ('m.read', 'm.read.private')
                AND rt.thread_id != '' GROUP BY rt.thread_id) t ON t.thread_id = a.thread_id
            WHERE a.stream_ordering > COALESCE(t.pos, 0)
            GROUP BY a.thread_id
        ) c
        """
    }
    static let sql = make(userID: "", roomIDs: []).sql
}
