import MatrixModel
import PostgresNIO

extension PostgresStorage {
    static func receipt(_ row: PostgresRow) throws -> Receipt {
        let (roomID, userID, type, thread, eventID, ts, position) = try row.decode((String, String, String, String, String, Int64, Int64).self)
        return Receipt(
            roomID: roomID, userID: userID, type: type, threadID: thread.isEmpty ? nil : thread, eventID: eventID, timestamp: ts,
            streamPosition: position)
    }

    static let receiptColumns = "room_id, user_id, receipt_type, thread_id, event_id, ts, stream_ordering"

    public func setAccountData(userID: String, roomID: String?, type: String, content: JSON) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.putAccountData(connection, userID: userID, roomID: roomID, type: type, content: content, logger: logger)
        }
    }

    /// Writes one account data entry at the next stream position (taken last) and wakes the user.
    static func putAccountData(
        _ connection: PostgresConnection, userID: String, roomID: String?, type: String, content: JSON, logger: Logger
    ) async throws -> Int64 {
        let position = try await nextPosition(connection, logger: logger)
        try await connection.rows(
            """
            INSERT INTO account_data (user_id, room_id, type, content, stream_ordering)
            VALUES (\(userID), \(roomID ?? ""), \(type), \(content.encodedString()), \(position))
            ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_ordering = excluded.stream_ordering
            """, logger: logger)
        try await notify(connection, change: "u \(position) \(userID)", logger: logger)
        return position
    }

    public func accountData(userID: String, roomID: String?, type: String) async throws -> JSON? {
        try await query(
            "SELECT content FROM account_data WHERE user_id = \(userID) AND room_id = \(roomID ?? "") AND type = \(type)"
        ).first.map { try JSON.stored(try $0.decode(String.self)) }
    }

    public func accountDataChanges(userID: String, since: Int64?) async throws -> [AccountDataEntry] {
        try await query(
            """
            SELECT room_id, type, content, stream_ordering FROM account_data WHERE user_id = \(userID)
            AND stream_ordering > \(since ?? -1) ORDER BY stream_ordering
            """
        ).map(Self.accountDataEntry)
    }

    static func accountDataEntry(_ row: PostgresRow) throws -> AccountDataEntry {
        let (room, type, content, position) = try row.decode((String, String, String, Int64).self)
        return AccountDataEntry(roomID: room.isEmpty ? nil : room, type: type, content: try JSON.stored(content), streamPosition: position)
    }

    public func setReceipt(_ receipt: Receipt) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            let position = try await Self.nextPosition(connection, logger: logger)
            try await connection.rows(
                """
                INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_ordering)
                VALUES (\(receipt.roomID), \(receipt.userID), \(receipt.type), \(receipt.threadID ?? ""), \(receipt.eventID),
                    \(receipt.timestamp), \(position))
                ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id,
                    ts = excluded.ts, stream_ordering = excluded.stream_ordering
                """, logger: logger)
            let change = receipt.type == "m.read.private" ? "u \(position) \(receipt.userID)" : "r \(position) \(receipt.roomID)"
            try await Self.notify(connection, change: change, logger: logger)
            return position
        }
    }

    public func receipts(roomID: String, after: Int64?, upTo: Int64) async throws -> [Receipt] {
        try await query(
            """
            SELECT \(unescaped: Self.receiptColumns) FROM receipts WHERE room_id = \(roomID)
            AND stream_ordering > \(after ?? -1) AND stream_ordering <= \(upTo) ORDER BY stream_ordering
            """
        ).map(Self.receipt)
    }

    public func receiptChanges(userID: String, after: Int64, upTo: Int64) async throws -> [Receipt] {
        try await query(
            """
            SELECT r.room_id, r.user_id, r.receipt_type, r.thread_id, r.event_id, r.ts, r.stream_ordering FROM receipts r
            JOIN room_memberships m ON m.room_id = r.room_id AND m.user_id = \(userID)
            WHERE m.membership = 'join' AND r.stream_ordering > \(after) AND r.stream_ordering <= \(upTo) ORDER BY r.stream_ordering
            """
        ).map(Self.receipt)
    }

    public func setTyping(roomID: String, userID: String, expiresAt: Int64?) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            let position = try await Self.nextPosition(connection, logger: logger)
            try await connection.rows(
                """
                INSERT INTO typing (room_id, user_id, expires_ts, stream_ordering) VALUES (\(roomID), \(userID), \(expiresAt ?? 0), \(position))
                ON CONFLICT (room_id, user_id) DO UPDATE SET expires_ts = excluded.expires_ts, stream_ordering = excluded.stream_ordering
                """, logger: logger)
            try await Self.notify(connection, change: "r \(position) \(roomID)", logger: logger)
            return position
        }
    }

    public func typingChanges(userID: String, after: Int64, upTo: Int64) async throws -> Set<String> {
        Set(
            try await query(
                """
                SELECT DISTINCT t.room_id FROM typing t JOIN room_memberships m ON m.room_id = t.room_id AND m.user_id = \(userID)
                WHERE m.membership = 'join' AND t.stream_ordering > \(after) AND t.stream_ordering <= \(upTo)
                """
            ).map { try $0.decode(String.self) })
    }

    public func typingUsers(roomID: String, now: Int64) async throws -> [String] {
        try await query("SELECT user_id FROM typing WHERE room_id = \(roomID) AND expires_ts > \(now) ORDER BY user_id")
            .map { try $0.decode(String.self) }
    }

    public func expireTyping(now: Int64) async throws -> [(roomID: String, position: Int64)] {
        let logger = self.logger
        return try await transaction { connection in
            // SKIP LOCKED: several nodes sweep; each expired notice is ended by exactly one.
            let expired = try await connection.rows(
                "SELECT room_id, user_id FROM typing WHERE expires_ts > 0 AND expires_ts <= \(now) FOR UPDATE SKIP LOCKED",
                logger: logger
            ).map { try $0.decode((String, String).self) }
            var touched: [(roomID: String, position: Int64)] = []
            for (roomID, userID) in expired {
                let position = try await Self.nextPosition(connection, logger: logger)
                try await connection.rows(
                    "UPDATE typing SET expires_ts = 0, stream_ordering = \(position) WHERE room_id = \(roomID) AND user_id = \(userID)",
                    logger: logger)
                try await Self.notify(connection, change: "r \(position) \(roomID)", logger: logger)
                touched.append((roomID, position))
            }
            return touched
        }
    }

    public func setPresence(userID: String, state: String, statusMessage: String?, lastActive: Int64, notify: [String]) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            let position = try await Self.nextPosition(connection, logger: logger)
            try await connection.rows(
                """
                INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_ordering)
                VALUES (\(userID), \(state), \(statusMessage), \(lastActive), \(position))
                ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
                    last_active_ts = excluded.last_active_ts, stream_ordering = excluded.stream_ordering
                """, logger: logger)
            for peer in notify { try await Self.notify(connection, change: "u \(position) \(peer)", logger: logger) }
            return position
        }
    }

    public func presence(userID: String) async throws -> PresenceRecord? {
        try await query(
            "SELECT user_id, state, status_msg, last_active_ts, stream_ordering FROM presence WHERE user_id = \(userID)"
        ).first.map(Self.presence)
    }

    public func presenceChanges(userID: String, after: Int64?, upTo: Int64) async throws -> [PresenceRecord] {
        // As on SQLite: an initial sync lists the viewer's peers once; an incremental one
        // checks only the changed users for a shared room.
        guard let after else {
            return try await query(
                """
                SELECT user_id, state, status_msg, last_active_ts, stream_ordering FROM presence
                WHERE stream_ordering <= \(upTo)
                AND (user_id = \(userID) OR user_id IN (SELECT DISTINCT m2.user_id FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join' WHERE m1.user_id = \(userID) AND m1.membership = 'join')) ORDER BY stream_ordering
                """
            ).map(Self.presence)
        }
        return try await query(
            """
            SELECT user_id, state, status_msg, last_active_ts, stream_ordering FROM presence p
            WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo)
            AND (user_id = \(userID) OR EXISTS (SELECT 1 FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.user_id = p.user_id AND m2.membership = 'join' WHERE m1.user_id = \(userID) AND m1.membership = 'join')) ORDER BY stream_ordering
            """
        ).map(Self.presence)
    }

    public func roomPeers(userID: String) async throws -> [String] {
        try await query("SELECT DISTINCT m2.user_id FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join' WHERE m1.user_id = \(userID) AND m1.membership = 'join'").map { try $0.decode(String.self) }
    }

    public func roomPeers(userID: String, among candidates: Set<String>) async throws -> Set<String> {
        guard !candidates.isEmpty else { return [] }
        return Set(try await query("""
            SELECT DISTINCT m2.user_id FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join'
            WHERE m1.user_id = \(userID) AND m1.membership = 'join' AND m2.user_id = ANY(\(candidates.sorted()))
            """).map { try $0.decode(String.self) })
    }

    static func presence(_ row: PostgresRow) throws -> PresenceRecord {
        let (userID, state, message, active, position) = try row.decode((String, String, String?, Int64, Int64).self)
        return PresenceRecord(userID: userID, state: state, statusMessage: message, lastActive: active, streamPosition: position)
    }

    public func createFilter(userID: String, filter: JSON, keepingAtMost limit: Int) async throws -> String {
        let logger = self.logger
        let text = filter.encodedString()
        return try await transaction { connection in
            try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\("filters " + userID), 0))", logger: logger)
            if let existing = try await connection.rows(
                "SELECT filter_id FROM filters WHERE user_id = \(userID) AND filter = \(text)", logger: logger
            ).first {
                return String(try existing.decode(Int64.self))
            }
            let next = try await connection.rows(
                "SELECT COALESCE(MAX(filter_id), -1) + 1 FROM filters WHERE user_id = \(userID)", logger: logger)[0].decode(Int64.self)
            try await connection.rows("INSERT INTO filters (user_id, filter_id, filter) VALUES (\(userID), \(next), \(text))", logger: logger)
            try await connection.rows(
                "DELETE FROM filters WHERE user_id = \(userID) AND filter_id <= \(next - Int64(limit))", logger: logger)
            return String(next)
        }
    }

    public func filter(userID: String, filterID: String) async throws -> JSON? {
        guard let id = Int64(filterID) else { return nil }
        return try await query("SELECT filter FROM filters WHERE user_id = \(userID) AND filter_id = \(id)").first.map {
            try JSON.stored(try $0.decode(String.self))
        }
    }

    public func changedRooms(userID: String, after: Int64, upTo: Int64) async throws -> [String: Int64] {
        var rooms: [String: Int64] = [:]
        for row in try await query(
            """
            SELECT e.room_id, MAX(e.stream_ordering) FROM events e
            JOIN room_memberships m ON m.room_id = e.room_id AND m.user_id = \(userID)
            WHERE e.stream_ordering > \(after) AND e.stream_ordering <= \(upTo) AND NOT m.forgotten
            GROUP BY e.room_id
            """
        ) {
            let (roomID, latest) = try row.decode((String, Int64).self)
            rooms[roomID] = latest
        }
        return rooms
    }

    public func syncChanges(userID: String, after: Int64, upTo: Int64, presence: Bool) async throws -> SyncChanges {
        let row = try await prepared(
            SyncChangesQuery.self, SyncChangesQuery.make(userID: userID, after: after, upTo: upTo, presence: presence))[0]
        let (typing, rooms, receipts, accountData, ignored, presenceRows) = try row.decode((String, String, String, String, String?, String).self)
        func rows(_ text: String) throws -> [[JSON]] { try (JSONParser.parse(text).arrayValue ?? []).map { $0.arrayValue ?? [] } }
        var changes = SyncChanges()
        changes.typingRooms = Set(try JSONParser.parse(typing).arrayValue?.compactMap(\.stringValue) ?? [])
        for (room, latest) in try JSONParser.parse(rooms).objectValue ?? [:] { changes.changedRooms[room] = latest.intValue ?? 0 }
        changes.receipts = try rows(receipts).map { cells in
            guard cells.count == 7, let room = cells[0].stringValue, let user = cells[1].stringValue, let type = cells[2].stringValue,
                let thread = cells[3].stringValue, let eventID = cells[4].stringValue, let ts = cells[5].intValue,
                let position = cells[6].intValue
            else { throw StoredDocumentError(reason: "a receipt row") }
            return Receipt(
                roomID: room, userID: user, type: type, threadID: thread.isEmpty ? nil : thread, eventID: eventID, timestamp: ts,
                streamPosition: position)
        }
        changes.accountData = try rows(accountData).map { cells in
            guard cells.count == 4, let room = cells[0].stringValue, let type = cells[1].stringValue, let content = cells[2].stringValue,
                let position = cells[3].intValue
            else { throw StoredDocumentError(reason: "an account data row") }
            return AccountDataEntry(roomID: room.isEmpty ? nil : room, type: type, content: try JSON.stored(content), streamPosition: position)
        }
        changes.ignoredUserList = try ignored.map { try JSON.stored($0) }
        if presence {
            changes.presence = try rows(presenceRows).map { cells in
                guard cells.count == 5, let user = cells[0].stringValue, let state = cells[1].stringValue, let active = cells[3].intValue,
                    let position = cells[4].intValue
                else { throw StoredDocumentError(reason: "a presence row") }
                return PresenceRecord(
                    userID: user, state: state, statusMessage: cells[2].stringValue, lastActive: active, streamPosition: position)
            }
        }
        return changes
    }

    /// The IDs come from the timeline tail or the index; the events, parsed once, from the event cache.
    public func roomEventsByStream(roomID: String, after: Int64, upTo: Int64, limit: Int, latest: Int64?) async throws -> [StoredEvent] {
        try await caches.roomEvents(
            roomID, after: after, upTo: upTo, limit: limit, latest: latest,
            load: {
                try await prepared(RoomEventIDsQuery.self, RoomEventIDsQuery.make(roomID: roomID, after: after, upTo: upTo, limit: limit))
                    .map { row in
                        let (position, eventID) = try row.decode((Int64, String).self)
                        return TimelineEntry(position: position, eventID: eventID)
                    }
            },
            events: { try await events(ids: $0) })
    }

    public func stateEventsByStream(roomID: String, after: Int64, upTo: Int64) async throws -> [StoredEvent] {
        try await query(
            """
            SELECT \(unescaped: Self.eventColumns) FROM events WHERE room_id = \(roomID) AND state_key IS NOT NULL
            AND stream_ordering > \(after) AND stream_ordering <= \(upTo) ORDER BY stream_ordering
            """
        ).map(Self.storedEvent)
    }

    public func userEvents(userID: String, after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent] {
        try await query(
            """
            SELECT \(unescaped: Self.eventColumnsE) FROM events e JOIN room_memberships m ON m.room_id = e.room_id AND m.user_id = \(userID)
            WHERE e.stream_ordering > \(after) AND e.stream_ordering <= \(upTo) AND NOT m.forgotten
            ORDER BY e.stream_ordering LIMIT \(limit)
            """
        ).map(Self.storedEvent)
    }

    public func lazyMembersSent(userID: String, deviceID: String, roomID: String, members: [String]) async throws -> [String: String] {
        guard !members.isEmpty else { return [:] }
        let rows = try await query(
            """
            SELECT member_id, event_id FROM lazy_members_sent WHERE user_id = \(userID) AND device_id = \(deviceID)
            AND room_id = \(roomID) AND member_id = ANY(\(members))
            """)
        var sent: [String: String] = [:]
        for row in rows {
            let (member, eventID) = try row.decode((String, String).self)
            sent[member] = eventID
        }
        return sent
    }

    public func recordLazyMembersSent(userID: String, deviceID: String, roomID: String, sent: [String: String], resetting: Bool) async throws {
        guard resetting || !sent.isEmpty else { return }
        let logger = self.logger
        try await transaction { connection in
            if resetting {
                try await connection.rows(
                    "DELETE FROM lazy_members_sent WHERE user_id = \(userID) AND device_id = \(deviceID) AND room_id = \(roomID)",
                    logger: logger)
            }
            guard !sent.isEmpty else { return }
            let members = Array(sent.keys)
            let eventIDs = members.map { sent[$0]! }
            try await connection.rows(
                """
                INSERT INTO lazy_members_sent (user_id, device_id, room_id, member_id, event_id)
                SELECT \(userID), \(deviceID), \(roomID), m, e FROM unnest(\(members)::text[], \(eventIDs)::text[]) AS t(m, e)
                ON CONFLICT (user_id, device_id, room_id, member_id) DO UPDATE SET event_id = excluded.event_id
                """,
                logger: logger)
        }
    }
}

/// `syncChanges`: typing, changed rooms, receipts, account data, the ignored list and presence in one statement.
enum SyncChangesQuery: PreparedQuery {
    static func make(userID: String, after: Int64, upTo: Int64, presence: Bool) -> PostgresQuery {
        """
        SELECT
            (SELECT COALESCE(json_agg(DISTINCT t.room_id), '[]') FROM typing t
                JOIN room_memberships m ON m.room_id = t.room_id AND m.user_id = \(userID)
                WHERE m.membership = 'join' AND t.stream_ordering > \(after) AND t.stream_ordering <= \(upTo))::TEXT,
            (SELECT COALESCE(json_object_agg(room_id, latest), '{}') FROM (
                SELECT e.room_id, MAX(e.stream_ordering) AS latest FROM events e
                JOIN room_memberships m ON m.room_id = e.room_id AND m.user_id = \(userID)
                WHERE e.stream_ordering > \(after) AND e.stream_ordering <= \(upTo) AND NOT m.forgotten
                GROUP BY e.room_id) c)::TEXT,
            (SELECT COALESCE(json_agg(json_build_array(
                    r.room_id, r.user_id, r.receipt_type, r.thread_id, r.event_id, r.ts, r.stream_ordering) ORDER BY r.stream_ordering), '[]')
                FROM receipts r JOIN room_memberships m ON m.room_id = r.room_id AND m.user_id = \(userID)
                WHERE m.membership = 'join' AND r.stream_ordering > \(after) AND r.stream_ordering <= \(upTo))::TEXT,
            (SELECT COALESCE(json_agg(json_build_array(room_id, type, content, stream_ordering) ORDER BY stream_ordering), '[]')
                FROM account_data WHERE user_id = \(userID) AND stream_ordering > \(after))::TEXT,
            (SELECT content FROM account_data WHERE user_id = \(userID) AND room_id = '' AND type = 'm.ignored_user_list'),
            (SELECT COALESCE(json_agg(json_build_array(user_id, state, status_msg, last_active_ts, stream_ordering) ORDER BY stream_ordering), '[]')
                FROM presence p WHERE \(presence) AND stream_ordering > \(after) AND stream_ordering <= \(upTo)
                AND (user_id = \(userID) OR EXISTS (SELECT 1 FROM room_memberships m1
                    JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.user_id = p.user_id AND m2.membership = 'join'
                    WHERE m1.user_id = \(userID) AND m1.membership = 'join')))::TEXT
        """
    }
    static let sql = make(userID: "", after: 0, upTo: 0, presence: false).sql
}

/// `roomEventsByStream`: positions and IDs, newest first.
enum RoomEventIDsQuery: PreparedQuery {
    static func make(roomID: String, after: Int64, upTo: Int64, limit: Int) -> PostgresQuery {
        """
        SELECT stream_ordering, event_id FROM events WHERE room_id = \(roomID) AND stream_ordering > \(after)
        AND stream_ordering <= \(upTo) ORDER BY stream_ordering DESC LIMIT \(limit)
        """
    }
    static let sql = make(roomID: "", after: 0, upTo: 0, limit: 0).sql
}
