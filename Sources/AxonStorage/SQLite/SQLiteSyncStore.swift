import GRDB
import MatrixModel

extension SQLiteStorage {
    public func setAccountData(userID: String, roomID: String?, type: String, content: JSON) async throws -> Int64 {
        try await write { db in
            try Self.putAccountData(db, userID: userID, roomID: roomID, type: type, content: content)
        }
    }

    /// Writes one account data entry at the next stream position, which it returns.
    static func putAccountData(_ db: Database, userID: String, roomID: String?, type: String, content: JSON) throws -> Int64 {
        let position = try nextPosition(db)
        try db.cachedStatement(sql: """
                INSERT INTO account_data (user_id, room_id, type, content, stream_ordering) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content,
                    stream_ordering = excluded.stream_ordering
                """).execute(arguments: [userID, roomID ?? "", type, content.encodedString(), position])
        return position
    }

    public func accountData(userID: String, roomID: String?, type: String) async throws -> JSON? {
        try await read { db in try Self.accountData(db, userID: userID, roomID: roomID, type: type) }
    }

    static func accountData(_ db: Database, userID: String, roomID: String?, type: String) throws -> JSON? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?"),
            arguments: [userID, roomID ?? "", type]
        ).map { try JSON.stored($0) }
    }

    public func accountDataChanges(userID: String, since: Int64?) async throws -> [AccountDataEntry] {
        try await read { db in try Self.accountDataChanges(db, userID: userID, since: since) }
    }

    static func accountDataChanges(_ db: Database, userID: String, since: Int64?) throws -> [AccountDataEntry] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM account_data WHERE user_id = ? AND stream_ordering > ? ORDER BY stream_ordering"),
            arguments: [userID, since ?? -1]
        ).map(Self.accountDataEntry)
    }

    static func accountDataEntry(_ row: Row) throws -> AccountDataEntry {
        let room: String = row["room_id"]
        return AccountDataEntry(
            roomID: room.isEmpty ? nil : room, type: row["type"], content: try JSON.stored(row["content"]), streamPosition: row["stream_ordering"])
    }

    public func setReceipt(_ receipt: Receipt) async throws -> Int64 {
        try await write { db in
            let position = try Self.nextPosition(db)
            try db.cachedStatement(sql: """
                    INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_ordering)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id,
                        ts = excluded.ts, stream_ordering = excluded.stream_ordering
                    """).execute(arguments: [
                    receipt.roomID, receipt.userID, receipt.type, receipt.threadID ?? "", receipt.eventID, receipt.timestamp,
                    position,
                ])
            return position
        }
    }

    public func receipts(roomID: String, after: Int64?, upTo: Int64) async throws -> [Receipt] {
        try await read { db in try Self.receipts(db, roomID: roomID, after: after, upTo: upTo) }
    }

    static func receipts(_ db: Database, roomID: String, after: Int64?, upTo: Int64) throws -> [Receipt] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM receipts WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering"),
            arguments: [roomID, after ?? -1, upTo]
        ).map(Self.receipt)
    }

    // CROSS JOIN keeps SQLite on the stream range first: planned from the memberships, the
    // query seeks once per room of the user, so its cost grew with the account, not the change.
    public func receiptChanges(userID: String, after: Int64, upTo: Int64) async throws -> [Receipt] {
        try await read { db in try Self.receiptChanges(db, userID: userID, after: after, upTo: upTo) }
    }

    static func receiptChanges(_ db: Database, userID: String, after: Int64, upTo: Int64) throws -> [Receipt] {
        try Row.fetchAll(db.cachedStatement(sql: """
                SELECT r.* FROM receipts r CROSS JOIN room_memberships m ON m.room_id = r.room_id AND m.user_id = ?
                WHERE m.membership = 'join' AND r.stream_ordering > ? AND r.stream_ordering <= ? ORDER BY r.stream_ordering
                """),
            arguments: [userID, after, upTo]
        ).map(Self.receipt)
    }

    static func receipt(_ row: Row) -> Receipt {
        let thread: String = row["thread_id"]
        return Receipt(
            roomID: row["room_id"], userID: row["user_id"], type: row["receipt_type"], threadID: thread.isEmpty ? nil : thread,
            eventID: row["event_id"], timestamp: row["ts"], streamPosition: row["stream_ordering"])
    }

    public func setTyping(roomID: String, userID: String, expiresAt: Int64?) async throws -> Int64 {
        try await write { db in
            let position = try Self.nextPosition(db)
            try db.cachedStatement(sql: """
                    INSERT INTO typing (room_id, user_id, expires_ts, stream_ordering) VALUES (?, ?, ?, ?)
                    ON CONFLICT (room_id, user_id) DO UPDATE SET expires_ts = excluded.expires_ts, stream_ordering = excluded.stream_ordering
                    """).execute(arguments: [roomID, userID, expiresAt ?? 0, position])
            return position
        }
    }

    // CROSS JOIN keeps SQLite on the stream range first: planned from the memberships, the
    // query seeks once per room of the user, so its cost grew with the account, not the change.
    public func typingChanges(userID: String, after: Int64, upTo: Int64) async throws -> Set<String> {
        try await read { db in try Self.typingChanges(db, userID: userID, after: after, upTo: upTo) }
    }

    static func typingChanges(_ db: Database, userID: String, after: Int64, upTo: Int64) throws -> Set<String> {
        Set(
            try String.fetchAll(db.cachedStatement(sql: """
                    SELECT DISTINCT t.room_id FROM typing t CROSS JOIN room_memberships m ON m.room_id = t.room_id AND m.user_id = ?
                    WHERE m.membership = 'join' AND t.stream_ordering > ? AND t.stream_ordering <= ?
                    """),
                arguments: [userID, after, upTo]))
    }

    public func typingUsers(roomID: String, now: Int64) async throws -> [String] {
        try await read { db in try Self.typingUsers(db, roomID: roomID, now: now) }
    }

    static func typingUsers(_ db: Database, roomID: String, now: Int64) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT user_id FROM typing WHERE room_id = ? AND expires_ts > ? ORDER BY user_id"), arguments: [roomID, now])
    }

    public func expireTyping(now: Int64) async throws -> [(roomID: String, position: Int64)] {
        try await write { db in
            let expired = try Row.fetchAll(db.cachedStatement(sql: "SELECT room_id, user_id FROM typing WHERE expires_ts > 0 AND expires_ts <= ?"), arguments: [now])
            var touched: [(roomID: String, position: Int64)] = []
            for row in expired {
                let position = try Self.nextPosition(db)
                try db.cachedStatement(sql: "UPDATE typing SET expires_ts = 0, stream_ordering = ? WHERE room_id = ? AND user_id = ?").execute(arguments: [position, row["room_id"], row["user_id"]])
                touched.append((row["room_id"], position))
            }
            return touched
        }
    }

    public func setPresence(userID: String, state: String, statusMessage: String?, lastActive: Int64, notify: [String]) async throws -> Int64 {
        try await write { db in
            let position = try Self.nextPosition(db)
            try db.cachedStatement(sql: """
                    INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_ordering) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
                        last_active_ts = excluded.last_active_ts, stream_ordering = excluded.stream_ordering
                    """).execute(arguments: [userID, state, statusMessage, lastActive, position])
            return position
        }
    }

    public func presence(userID: String) async throws -> PresenceRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM presence WHERE user_id = ?"), arguments: [userID]).map(Self.presence)
        }
    }

    public func presenceChanges(userID: String, after: Int64?, upTo: Int64) async throws -> [PresenceRecord] {
        try await read { db in try Self.presenceChanges(db, userID: userID, after: after, upTo: upTo) }
    }

    static func presenceChanges(_ db: Database, userID: String, after: Int64?, upTo: Int64) throws -> [PresenceRecord] {
        try Row.fetchAll(db.cachedStatement(sql: after == nil ? Self.allPresenceSQL : Self.changedPresenceSQL),
            arguments: [after ?? -1, upTo, userID, userID]
        ).map(Self.presence)
    }

    /// Everyone's presence (an initial sync): the viewer's peers are listed once.
    static let allPresenceSQL = """
        SELECT * FROM presence WHERE stream_ordering > ? AND stream_ordering <= ?
        AND (user_id = ? OR user_id IN (SELECT DISTINCT m2.user_id FROM room_memberships m1
            JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join'
            WHERE m1.user_id = ? AND m1.membership = 'join'))
        ORDER BY stream_ordering
        """
    /// Presence changed since a sync: the few changed users are each checked for a shared
    /// room, so the cost does not grow with the size of the viewer's rooms.
    static let changedPresenceSQL = """
        SELECT * FROM presence p WHERE stream_ordering > ? AND stream_ordering <= ?
        AND (user_id = ? OR EXISTS (SELECT 1 FROM room_memberships m1
            JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.user_id = p.user_id AND m2.membership = 'join'
            WHERE m1.user_id = ? AND m1.membership = 'join'))
        ORDER BY stream_ordering
        """

    public func roomPeers(userID: String) async throws -> [String] {
        try await read { db in try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT m2.user_id FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join' WHERE m1.user_id = ? AND m1.membership = 'join'"), arguments: [userID]) }
    }

    public func roomPeers(userID: String, among candidates: Set<String>) async throws -> Set<String> {
        guard !candidates.isEmpty else { return [] }
        let list = JSON.array(candidates.sorted().map(JSON.string)).encodedString()
        return Set(try await read { db in
            try String.fetchAll(db.cachedStatement(sql: """
                    SELECT DISTINCT m2.user_id FROM room_memberships m1
                    JOIN room_memberships m2 ON m2.room_id = m1.room_id AND m2.membership = 'join'
                    WHERE m1.user_id = ? AND m1.membership = 'join' AND m2.user_id IN (SELECT value FROM json_each(?))
                    """), arguments: [userID, list])
        })
    }

    static func presence(_ row: Row) -> PresenceRecord {
        PresenceRecord(
            userID: row["user_id"], state: row["state"], statusMessage: row["status_msg"], lastActive: row["last_active_ts"],
            streamPosition: row["stream_ordering"])
    }

    public func createFilter(userID: String, filter: JSON, keepingAtMost limit: Int) async throws -> String {
        let text = filter.encodedString()
        return try await write { db in
            if let existing = try Int64.fetchOne(db.cachedStatement(sql: "SELECT filter_id FROM filters WHERE user_id = ? AND filter = ?"), arguments: [userID, text])
            {
                return String(existing)
            }
            let next = (try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(filter_id) FROM filters WHERE user_id = ?"), arguments: [userID]) ?? -1) + 1
            try db.cachedStatement(sql: "INSERT INTO filters (user_id, filter_id, filter) VALUES (?, ?, ?)").execute(arguments: [userID, next, text])
            try db.cachedStatement(sql: "DELETE FROM filters WHERE user_id = ? AND filter_id <= ?").execute(arguments: [userID, next - Int64(limit)])
            return String(next)
        }
    }

    public func filter(userID: String, filterID: String) async throws -> JSON? {
        guard let id = Int64(filterID) else { return nil }
        return try await read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT filter FROM filters WHERE user_id = ? AND filter_id = ?"), arguments: [userID, id])
                .map { try JSON.stored($0) }
        }
    }

    // CROSS JOIN keeps SQLite on the stream range first: planned from the memberships, the
    // query seeks once per room of the user, so its cost grew with the account, not the change.
    public func changedRooms(userID: String, after: Int64, upTo: Int64) async throws -> [String: Int64] {
        try await read { db in try Self.changedRooms(db, userID: userID, after: after, upTo: upTo) }
    }

    static func changedRooms(_ db: Database, userID: String, after: Int64, upTo: Int64) throws -> [String: Int64] {
        var rooms: [String: Int64] = [:]
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT e.room_id, MAX(e.stream_ordering) AS latest FROM events e
                CROSS JOIN room_memberships m ON m.room_id = e.room_id AND m.user_id = ?
                WHERE e.stream_ordering > ? AND e.stream_ordering <= ? AND m.forgotten = 0
                GROUP BY e.room_id
                """),
            arguments: [userID, after, upTo])
        for row in rows { rooms[row["room_id"]] = row["latest"] }
        return rooms
    }

    /// One read transaction (one snapshot) instead of six.
    public func syncChanges(userID: String, after: Int64, upTo: Int64, presence: Bool) async throws -> SyncChanges {
        try await read { db in
            var changes = SyncChanges()
            changes.typingRooms = try Self.typingChanges(db, userID: userID, after: after, upTo: upTo)
            changes.changedRooms = try Self.changedRooms(db, userID: userID, after: after, upTo: upTo)
            changes.receipts = try Self.receiptChanges(db, userID: userID, after: after, upTo: upTo)
            changes.accountData = try Self.accountDataChanges(db, userID: userID, since: after)
            changes.ignoredUserList = try Self.accountData(db, userID: userID, roomID: nil, type: "m.ignored_user_list")
            if presence { changes.presence = try Self.presenceChanges(db, userID: userID, after: after, upTo: upTo) }
            return changes
        }
    }

    /// The IDs come from the timeline tail or the index; the events, parsed once, from the event cache.
    public func roomEventsByStream(roomID: String, after: Int64, upTo: Int64, limit: Int, latest: Int64?) async throws -> [StoredEvent] {
        try await caches.roomEvents(
            roomID, after: after, upTo: upTo, limit: limit, latest: latest,
            load: { try await read { db in try Self.timelineEntries(db, roomID: roomID, after: after, upTo: upTo, limit: limit) } },
            events: { try await events(ids: $0) })
    }

    static func timelineEntries(_ db: Database, roomID: String, after: Int64, upTo: Int64, limit: Int) throws -> [TimelineEntry] {
        try Row.fetchAll(db.cachedStatement(sql: """
                SELECT stream_ordering, event_id FROM events WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ?
                ORDER BY stream_ordering DESC LIMIT ?
                """),
            arguments: [roomID, after, upTo, limit]
        ).map { TimelineEntry(position: $0[0], eventID: $0[1]) }
    }

    /// One read transaction, each room's parts read with the same cached statements as alone.
    public func roomSyncBatch(
        userID: String, roomIDs: [String], upTo: Int64, timelineLimit: Int, now: Int64, unreadCounts: Bool
    ) async throws -> RoomSyncBatch {
        let limit = max(timelineLimit, 1)
        let tickets = caches.timelineTickets(roomIDs)
        let (entries, batch) = try await read { db -> ([String: [TimelineEntry]], RoomSyncBatch) in
            var entries: [String: [TimelineEntry]] = [:]
            var batch = RoomSyncBatch()
            for roomID in roomIDs {
                entries[roomID] = try Self.timelineEntries(db, roomID: roomID, after: -1, upTo: upTo, limit: limit)
                batch.receipts[roomID] = try Self.receipts(db, roomID: roomID, after: nil, upTo: upTo)
                batch.typing[roomID] = try Self.typingUsers(db, roomID: roomID, now: now)
                if unreadCounts { batch.notificationCounts[roomID] = try Self.notificationCounts(db, userID: userID, roomID: roomID) }
            }
            return (entries, batch)
        }
        var result = batch
        result.timelines = try await caches.timelines(entries, upTo: upTo, limit: limit, tickets: tickets) { try await events(ids: $0) }
        return result
    }

    public func stateEventsByStream(roomID: String, after: Int64, upTo: Int64) async throws -> [StoredEvent] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT * FROM events WHERE room_id = ? AND state_key IS NOT NULL AND stream_ordering > ?
                    AND stream_ordering <= ? ORDER BY stream_ordering
                    """),
                arguments: [roomID, after, upTo]
            ).map(SQLiteRoomQueries.storedEvent)
        }
    }

    public func userEvents(userID: String, after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT e.* FROM events e JOIN room_memberships m ON m.room_id = e.room_id AND m.user_id = ?
                    WHERE e.stream_ordering > ? AND e.stream_ordering <= ? AND m.forgotten = 0
                    ORDER BY e.stream_ordering LIMIT ?
                    """),
                arguments: [userID, after, upTo, limit]
            ).map(SQLiteRoomQueries.storedEvent)
        }
    }

    public func lazyMembersSent(userID: String, deviceID: String, roomID: String, members: [String]) async throws -> [String: String] {
        guard !members.isEmpty else { return [:] }
        return try await read { db in
            var sent: [String: String] = [:]
            for member in members {
                if let eventID = try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM lazy_members_sent WHERE user_id = ? AND device_id = ? AND room_id = ? AND member_id = ?"),
                    arguments: [userID, deviceID, roomID, member])
                {
                    sent[member] = eventID
                }
            }
            return sent
        }
    }

    public func recordLazyMembersSent(userID: String, deviceID: String, roomID: String, sent: [String: String], resetting: Bool) async throws {
        guard resetting || !sent.isEmpty else { return }
        try await write { db in
            if resetting {
                try db.cachedStatement(sql: "DELETE FROM lazy_members_sent WHERE user_id = ? AND device_id = ? AND room_id = ?").execute(arguments: [userID, deviceID, roomID])
            }
            for (member, eventID) in sent {
                try db.cachedStatement(sql: """
                        INSERT INTO lazy_members_sent (user_id, device_id, room_id, member_id, event_id) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, device_id, room_id, member_id) DO UPDATE SET event_id = excluded.event_id
                        """).execute(arguments: [userID, deviceID, roomID, member, eventID])
            }
        }
    }
}
