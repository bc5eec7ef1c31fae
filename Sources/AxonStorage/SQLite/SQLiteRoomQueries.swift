import GRDB
import MatrixModel

/// Read queries shared by the room store and the write transaction.
enum SQLiteRoomQueries {
    static func room(_ db: Database, id: String) throws -> RoomRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM rooms WHERE room_id = ?", arguments: [id]) else { return nil }
        guard let version = RoomVersion(row["version"]) else { return nil }
        return RoomRecord(
            roomID: row["room_id"], version: version, creator: row["creator"], isPublic: row["is_public"],
            latestEventID: row["latest_event_id"], latestDepth: row["latest_depth"], currentStateGroup: row["current_state_group"])
    }

    static func events(_ db: Database, ids: [String]) throws -> [StoredEvent] {
        guard !ids.isEmpty else { return [] }
        let placeholders = databaseQuestionMarks(count: ids.count)
        return try Row.fetchAll(db, sql: "SELECT * FROM events WHERE event_id IN (\(placeholders))", arguments: StatementArguments(ids))
            .map(storedEvent)
    }

    static func storedEvent(_ row: Row) throws -> StoredEvent {
        try StoredEvent(
            pdu: PDU(eventID: row["event_id"], json: try JSON.stored(row["json"]).objectValue ?? [:]),
            roomID: row["room_id"], streamPosition: row["stream_ordering"], stateGroup: row["state_group"],
            redactedBecause: row["redacted_because"], senderDevice: row["sender_device"], transactionID: row["txn_id"])
    }

    static func currentStateEvent(_ db: Database, roomID: String, key: StateKey) throws -> PDU? {
        guard
            let eventID = try String.fetchOne(
                db, sql: "SELECT event_id FROM current_state WHERE room_id = ? AND type = ? AND state_key = ?",
                arguments: [roomID, key.type, key.stateKey])
        else { return nil }
        return try events(db, ids: [eventID]).first?.pdu
    }

    private static let chainSQL = """
        WITH RECURSIVE chain(id, prev, n) AS (
            SELECT id, prev_group, 0 FROM state_groups WHERE id = ?
            UNION ALL
            SELECT g.id, g.prev_group, c.n + 1 FROM state_groups g JOIN chain c ON g.id = c.prev
        )
        """

    /// The (type, state_key) → event ID map of a snapshot, resolving its delta chain.
    static func stateEntries(_ db: Database, group: Int64) throws -> [StateKey: String] {
        let rows = try Row.fetchAll(
            db,
            sql: chainSQL + " SELECT e.type, e.state_key, e.event_id FROM state_group_entries e JOIN chain c ON e.group_id = c.id ORDER BY c.n DESC",
            arguments: [group])
        var entries: [StateKey: String] = [:]
        // Oldest first, so newer deltas overwrite.
        for row in rows { entries[StateKey(row["type"], row["state_key"])] = row["event_id"] }
        return entries
    }

    static func stateEntry(_ db: Database, group: Int64, key: StateKey) throws -> String? {
        try String.fetchOne(
            db,
            sql: chainSQL
                + " SELECT e.event_id FROM state_group_entries e JOIN chain c ON e.group_id = c.id WHERE e.type = ? AND e.state_key = ? ORDER BY c.n LIMIT 1",
            arguments: [group, key.type, key.stateKey])
    }

    static func membership(_ row: Row) -> Membership {
        Membership(
            roomID: row["room_id"], userID: row["user_id"], membership: row["membership"], eventID: row["event_id"],
            streamPosition: row["stream_ordering"], forgotten: row["forgotten"])
    }
}
