import GRDB
import MatrixModel

/// Read queries shared by the room store and the write transaction.
enum SQLiteRoomQueries {
    static func room(_ db: Database, id: String) throws -> RoomRecord? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM rooms WHERE room_id = ?"), arguments: [id]) else { return nil }
        guard let version = RoomVersion(row["version"]) else { return nil }
        return RoomRecord(
            roomID: row["room_id"], version: version, creator: row["creator"], isPublic: row["is_public"],
            latestEventID: row["latest_event_id"], latestDepth: row["latest_depth"], currentStateGroup: row["current_state_group"])
    }

    static func events(_ db: Database, ids: [String]) throws -> [StoredEvent] {
        guard !ids.isEmpty else { return [] }
        // One statement text for any number of IDs, so SQLite parses and plans it once per connection.
        let list = JSON.array(ids.map(JSON.string)).encodedString()
        return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM events WHERE event_id IN (SELECT value FROM json_each(?))"), arguments: [list])
            .map(storedEvent)
    }

    /// One pass over the columns by their exact names: GRDB's `row["name"]` on a copied row
    /// compares lowercased copies of every column name on each lookup, which was a visible
    /// share of a sliding-sync response's CPU.
    static func storedEvent(_ row: Row) throws -> StoredEvent {
        var eventID = "", roomID = "", json: String?
        var position: Int64 = 0, group: Int64 = 0
        var redactedBy: String?, device: String?, txn: String?
        for (column, value) in row {
            switch column {
            case "event_id": eventID = String.fromDatabaseValue(value) ?? ""
            case "room_id": roomID = String.fromDatabaseValue(value) ?? ""
            case "json": json = String.fromDatabaseValue(value)
            case "stream_ordering": position = Int64.fromDatabaseValue(value) ?? 0
            case "state_group": group = Int64.fromDatabaseValue(value) ?? 0
            case "redacted_because": redactedBy = String.fromDatabaseValue(value)
            case "sender_device": device = String.fromDatabaseValue(value)
            case "txn_id": txn = String.fromDatabaseValue(value)
            default: break
            }
        }
        return StoredEvent(
            pdu: PDU(eventID: eventID, json: try JSON.stored(json).objectValue ?? [:]), roomID: roomID, streamPosition: position,
            stateGroup: group, redactedBecause: redactedBy, senderDevice: device, transactionID: txn)
    }

    static func currentStateEvent(_ db: Database, roomID: String, key: StateKey) throws -> PDU? {
        guard
            let eventID = try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM current_state WHERE room_id = ? AND type = ? AND state_key = ?"),
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
            db.cachedStatement(
                sql: chainSQL + " SELECT e.type, e.state_key, e.event_id FROM state_group_entries e JOIN chain c ON e.group_id = c.id ORDER BY c.n DESC"),
            arguments: [group])
        var entries: [StateKey: String] = [:]
        // Oldest first, so newer deltas overwrite.
        for row in rows { entries[StateKey(row["type"], row["state_key"])] = row["event_id"] }
        return entries
    }

    static func stateEntry(_ db: Database, group: Int64, key: StateKey) throws -> String? {
        try String.fetchOne(
            db.cachedStatement(
                sql: chainSQL
                    + " SELECT e.event_id FROM state_group_entries e JOIN chain c ON e.group_id = c.id WHERE e.type = ? AND e.state_key = ? ORDER BY c.n LIMIT 1"),
            arguments: [group, key.type, key.stateKey])
    }

    static func membership(_ row: Row) -> Membership {
        Membership(
            roomID: row["room_id"], userID: row["user_id"], membership: row["membership"], eventID: row["event_id"],
            streamPosition: row["stream_ordering"], forgotten: row["forgotten"])
    }
}
