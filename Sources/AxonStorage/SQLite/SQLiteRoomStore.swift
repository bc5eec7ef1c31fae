import GRDB
import MatrixModel

extension SQLiteStorage {
    public func writeRoom<T: Sendable>(
        roomID: String, _ body: @escaping @Sendable (any RoomWriteTransaction) async throws -> T
    ) async throws -> T {
        // A task of its own: cancelling the request must not interrupt a half-done transaction.
        try await Task {
            try await writeLock.withLock {
                defer { self.caches.applyPending() }
                try await self.pool.writeWithoutTransaction { db in try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute() }
                do {
                    let transaction = try await SQLiteRoomTransaction.begin(pool: self.pool, roomID: roomID)
                    let result = try await body(transaction)
                    try await self.pool.writeWithoutTransaction { db in try db.cachedStatement(sql: "COMMIT").execute() }
                    return result
                } catch {
                    try? await self.pool.writeWithoutTransaction { db in try db.cachedStatement(sql: "ROLLBACK").execute() }
                    if let error = error as? DatabaseError, error.resultCode == .SQLITE_CONSTRAINT {
                        throw StorageError.conflict(error.message ?? "constraint violated")
                    }
                    throw error
                }
            }
        }.value
    }

    public func room(id: String) async throws -> RoomRecord? {
        try await read { db in try SQLiteRoomQueries.room(db, id: id) }
    }

    public func event(id: String) async throws -> StoredEvent? {
        try await events(ids: [id]).first
    }

    public func events(ids: [String]) async throws -> [StoredEvent] {
        try await caches.events(ids) { missing in try await read { db in try SQLiteRoomQueries.events(db, ids: missing) } }
    }

    public func currentStateEvents(roomID: String) async throws -> [StoredEvent] {
        try await events(ids: Array(try await currentStateIDs(roomID: roomID).values))
    }

    public func currentStateEvent(roomID: String, key: StateKey) async throws -> PDU? {
        guard let id = try await currentStateIDs(roomID: roomID)[key] else { return nil }
        return try await event(id: id)?.pdu
    }

    private func currentStateIDs(roomID: String) async throws -> [StateKey: String] {
        try await caches.currentStateIDs(roomID) {
            try await read { db in
                var state: [StateKey: String] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT type, state_key, event_id FROM current_state WHERE room_id = ?"), arguments: [roomID]) {
                    state[StateKey(row[0], row[1])] = row[2]
                }
                return state
            }
        }
    }

    public func state(group: Int64) async throws -> [StateKey: PDU] {
        var state: [StateKey: PDU] = [:]
        for event in try await stateEvents(group: group) { state[StateKey(event.pdu.type, event.pdu.stateKey ?? "")] = event.pdu }
        return state
    }

    public func stateEvents(group: Int64) async throws -> [StoredEvent] {
        try await stateEvents(group: group) { _ in true }
    }

    public func stateEvents(group: Int64, keeping keep: (StateKey) -> Bool) async throws -> [StoredEvent] {
        let entries = try await caches.stateGroupIDs(group) { try await read { db in try SQLiteRoomQueries.stateEntries(db, group: group) } }
        return try await events(ids: entries.compactMap { keep($0.key) ? $0.value : nil })
    }

    /// One entry of a snapshot not cached whole is read alone: a new snapshot of a big room
    /// is not worth loading entirely for one member.
    public func stateEvent(group: Int64, key: StateKey) async throws -> PDU? {
        let id: String?
        if let entries = caches.stateGroups.value(group) {
            id = entries[key]
        } else {
            id = try await read { db in try SQLiteRoomQueries.stateEntry(db, group: group, key: key) }
        }
        guard let id else { return nil }
        return try await event(id: id)?.pdu
    }

    public func membership(roomID: String, userID: String) async throws -> Membership? {
        try await roomMembers(roomID).byUser[userID]
    }

    public func memberships(userID: String) async throws -> [Membership] {
        try await caches.userMemberships(userID) {
            try await read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM room_memberships WHERE user_id = ? ORDER BY stream_ordering"), arguments: [userID])
                    .map(SQLiteRoomQueries.membership)
            }
        }
    }

    public func memberships(userID: String, changedAfter after: Int64, orIn rooms: Set<String>) async throws -> [Membership] {
        try await memberships(userID: userID).filter { $0.streamPosition > after || rooms.contains($0.roomID) }
    }

    public func members(roomID: String, membership: String?) async throws -> [Membership] {
        try await roomMembers(roomID).rows(membership: membership)
    }

    func roomMembers(_ roomID: String) async throws -> RoomMembers {
        try await caches.roomMembers(
            roomID,
            loadAll: {
                try await read { db in
                    try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM room_memberships WHERE room_id = ?"), arguments: [roomID])
                        .map(SQLiteRoomQueries.membership)
                }
            },
            loadUsers: { users in
                try await read { db in
                    try Row.fetchAll(db, sql: "SELECT * FROM room_memberships WHERE room_id = ? AND user_id IN (\(databaseQuestionMarks(count: users.count)))",
                        arguments: StatementArguments([roomID] + users)
                    ).map(SQLiteRoomQueries.membership)
                }
            })
    }

    public func joinPositions(roomID: String, userID: String) async throws -> [Int64] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT stream_ordering, json FROM events WHERE room_id = ? AND type = 'm.room.member' AND state_key = ?"),
                arguments: [roomID, userID]
            ).compactMap { row in
                try JSON.stored(row["json"])["content"]?["membership"] == "join" ? row["stream_ordering"] : nil
            }
        }
    }

    public func setForgotten(roomID: String, userID: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE room_memberships SET forgotten = 1 WHERE room_id = ? AND user_id = ?").execute(arguments: [roomID, userID])
        }
    }

    public func isRoomForgottenByAll(roomID: String) async throws -> Bool {
        try await read { db in
            let remembering = try Int.fetchOne(db.cachedStatement(sql: """
                    SELECT COUNT(*) FROM room_memberships m JOIN users u ON u.user_id = m.user_id
                    WHERE m.room_id = ? AND m.forgotten = 0
                    """),
                arguments: [roomID])
            return remembering == 0
        }
    }

    public func purgeRoom(roomID: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM event_transactions WHERE event_id IN (SELECT event_id FROM events WHERE room_id = ?)").execute(arguments: [roomID])
            for table in perRoomTables {
                try db.execute(sql: "DELETE FROM \(table) WHERE room_id = ?", arguments: [roomID])
            }
            try db.cachedStatement(sql: "DELETE FROM state_group_entries WHERE group_id IN (SELECT id FROM state_groups WHERE room_id = ?)").execute(arguments: [roomID])
            try db.cachedStatement(sql: "DELETE FROM state_groups WHERE room_id = ?").execute(arguments: [roomID])
        }
    }

    public func roomEvents(roomID: String, from: TopologicalPosition?, direction: Direction, limit: Int) async throws -> [StoredEvent] {
        try await read { db in
            let order = direction.isForward ? "ASC" : "DESC"
            var sql = "SELECT * FROM events WHERE room_id = ?"
            var arguments: StatementArguments = [roomID]
            if let from {
                sql += direction.isForward ? " AND (depth, stream_ordering) > (?, ?)" : " AND (depth, stream_ordering) < (?, ?)"
                arguments += [from.depth, from.stream]
            }
            sql += " ORDER BY depth \(order), stream_ordering \(order) LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(SQLiteRoomQueries.storedEvent)
        }
    }

    public func topologicalPosition(eventID: String) async throws -> TopologicalPosition? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT depth, stream_ordering FROM events WHERE event_id = ?"), arguments: [eventID]).map {
                TopologicalPosition(depth: $0["depth"], stream: $0["stream_ordering"])
            }
        }
    }

    public func latestEvent(roomID: String, atOrBefore stream: Int64) async throws -> StoredEvent? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM events WHERE room_id = ? AND stream_ordering <= ? ORDER BY stream_ordering DESC LIMIT 1"),
                arguments: [roomID, stream]
            ).map(SQLiteRoomQueries.storedEvent)
        }
    }

    public func currentStreamPosition() async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT position FROM stream_positions WHERE id = 1")) ?? 0 }
    }

    public func relations(
        roomID: String, parentID: String, relType: String?, eventType: String?, from: Int64?, forward: Bool, limit: Int
    ) async throws -> [StoredEvent] {
        try await read { db in
            var sql = "SELECT e.* FROM event_relations r JOIN events e ON e.event_id = r.event_id WHERE r.relates_to = ? AND r.room_id = ?"
            var arguments: StatementArguments = [parentID, roomID]
            if let relType {
                sql += " AND r.rel_type = ?"
                arguments += [relType]
            }
            if let eventType {
                sql += " AND r.type = ?"
                arguments += [eventType]
            }
            if let from {
                sql += forward ? " AND r.stream_ordering > ?" : " AND r.stream_ordering < ?"
                arguments += [from]
            }
            sql += " ORDER BY r.stream_ordering \(forward ? "ASC" : "DESC") LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(SQLiteRoomQueries.storedEvent)
        }
    }

    public func threadRoots(roomID: String, participant: String?, before: Int64?, limit: Int) async throws -> [(rootID: String, latest: Int64)] {
        try await read { db in
            var sql = """
                SELECT r.relates_to AS root, MAX(r.stream_ordering) AS latest FROM event_relations r
                WHERE r.room_id = ? AND r.rel_type = 'm.thread'
                """
            var arguments: StatementArguments = [roomID]
            if let participant {
                sql += """
                     AND r.relates_to IN (SELECT relates_to FROM event_relations WHERE rel_type = 'm.thread' AND sender = ?
                        UNION SELECT event_id FROM events WHERE room_id = ? AND sender = ?)
                    """
                arguments += [participant, roomID, participant]
            }
            sql += " GROUP BY r.relates_to"
            if let before {
                sql += " HAVING MAX(r.stream_ordering) < ?"
                arguments += [before]
            }
            sql += " ORDER BY latest DESC LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { (rootID: $0["root"], latest: $0["latest"]) }
        }
    }

    public func relationRows(roomID: String, parentIDs: [String], relTypes: [String]) async throws -> [RelationRow] {
        guard !parentIDs.isEmpty, !relTypes.isEmpty else { return [] }
        return try await read { db in
            // The lists as JSON arguments: one statement text, parsed once per connection. Each
            // parent is sought in its index; left to itself SQLite walked every relation of
            // the room of those types (all its reactions) for each timeline.
            let parents = JSON.array(parentIDs.map(JSON.string)).encodedString()
            let types = JSON.array(relTypes.map(JSON.string)).encodedString()
            return try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT r.event_id, r.relates_to, r.rel_type, r.type, r.sender, r.stream_ordering
                    FROM json_each(?) p CROSS JOIN event_relations r INDEXED BY event_relations_parent ON r.relates_to = p.value
                    WHERE r.room_id = ? AND r.rel_type IN (SELECT value FROM json_each(?))
                    ORDER BY r.stream_ordering
                    """),
                arguments: [parents, roomID, types]
            ).map {
                RelationRow(
                    eventID: $0["event_id"], parentID: $0["relates_to"], relType: $0["rel_type"], eventType: $0["type"],
                    sender: $0["sender"], streamPosition: $0["stream_ordering"])
            }
        }
    }

    public func directoryCandidates(userID: String) async throws -> [Account] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT u.* FROM users u WHERE NOT u.deactivated AND u.user_id IN (
                        SELECT m.user_id FROM room_memberships m WHERE m.membership = 'join' AND (
                            m.room_id IN (SELECT room_id FROM room_memberships WHERE user_id = ? AND membership = 'join')
                            OR m.room_id IN (
                                SELECT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
                                WHERE cs.type = 'm.room.join_rules' AND cs.state_key = ''
                                AND json_extract(e.json, '$.content.join_rule') = 'public')))
                    """),
                arguments: [userID]
            ).map(Self.account)
        }
    }

    public func setAlias(_ alias: String, roomID: String, creator: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO room_aliases (alias, room_id, creator) VALUES (?, ?, ?)").execute(arguments: [alias, roomID, creator])
        }
    }

    public func aliasTarget(_ alias: String) async throws -> (roomID: String, creator: String)? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT room_id, creator FROM room_aliases WHERE alias = ?"), arguments: [alias]).map {
                (roomID: $0["room_id"] as String, creator: $0["creator"] as String)
            }
        }
    }

    public func aliases(roomID: String) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias"), arguments: [roomID])
        }
    }

    public func deleteAlias(_ alias: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM room_aliases WHERE alias = ?").execute(arguments: [alias]) }
    }

    public func setPublic(roomID: String, isPublic: Bool) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE rooms SET is_public = ? WHERE room_id = ?").execute(arguments: [isPublic, roomID])
        }
    }

    public func publicRooms() async throws -> [String] {
        try await read { db in try String.fetchAll(db.cachedStatement(sql: "SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")) }
    }
}
