import GRDB
import MatrixModel

extension SQLiteStorage {
    public func openSlidingSyncConnection(userID: String, deviceID: String, connID: String, now: Int64, keepingAtMost: Int) async throws -> Int64 {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM sliding_sync_connections WHERE user_id = ? AND device_id = ? AND conn_id = ?").execute(arguments: [userID, deviceID, connID])
            try db.cachedStatement(sql: "INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, last_used_ts) VALUES (?, ?, ?, ?)").execute(arguments: [userID, deviceID, connID, now])
            let id = db.lastInsertedRowID
            try db.cachedStatement(sql: """
                    DELETE FROM sliding_sync_connections WHERE user_id = ? AND device_id = ? AND id NOT IN (
                        SELECT id FROM sliding_sync_connections WHERE user_id = ? AND device_id = ? ORDER BY last_used_ts DESC, id DESC LIMIT ?)
                    """).execute(arguments: [userID, deviceID, userID, deviceID, keepingAtMost])
            return id
        }
    }

    public func resumeSlidingSyncConnection(
        connectionID: Int64, pos: Int64, userID: String, deviceID: String, connID: String, now: Int64, unusedSince: Int64
    ) async throws -> SlidingSyncResumption? {
        try await write { db in
            guard
                try Int.fetchOne(db.cachedStatement(sql: """
                        SELECT 1 FROM sliding_sync_connections
                        WHERE id = ? AND user_id = ? AND device_id = ? AND conn_id = ? AND last_used_ts >= ?
                        """),
                    arguments: [connectionID, userID, deviceID, connID, unusedSince]) != nil,
                let position = try Row.fetchOne(db.cachedStatement(sql: "SELECT parent, stream_ordering, lists_digest FROM sliding_sync_positions WHERE connection_id = ? AND pos = ?"),
                    arguments: [connectionID, pos])
            else { return nil }
            let parent: Int64? = position["parent"]
            // Other answers to the parent's request, and anything after them, never reached the client.
            try db.cachedStatement(sql: """
                    DELETE FROM sliding_sync_rooms WHERE connection_id = ? AND pos IN (
                        SELECT pos FROM sliding_sync_positions WHERE connection_id = ? AND pos != ? AND pos IS NOT ?)
                    """).execute(arguments: [connectionID, connectionID, pos, parent])
            try db.cachedStatement(sql: "DELETE FROM sliding_sync_positions WHERE connection_id = ? AND pos != ?").execute(arguments: [connectionID, pos])
            try db.cachedStatement(sql: """
                    DELETE FROM sliding_sync_rooms WHERE connection_id = ? AND pos < ? AND room_id IN (
                        SELECT room_id FROM sliding_sync_rooms WHERE connection_id = ? AND pos = ?)
                    """).execute(arguments: [connectionID, pos, connectionID, pos])
            try db.cachedStatement(sql: "UPDATE sliding_sync_connections SET last_used_ts = ? WHERE id = ?").execute(arguments: [now, connectionID])
            return SlidingSyncResumption(streamPosition: position["stream_ordering"], listsDigest: position["lists_digest"])
        }
    }

    public func slidingSyncRooms(connectionID: Int64, roomIDs: [String]) async throws -> [String: SlidingSyncRoomRecord] {
        guard !roomIDs.isEmpty else { return [:] }
        return try await read { db in
            var records: [String: (pos: Int64, record: SlidingSyncRoomRecord)] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT room_id, pos, sent_up_to, config, extra FROM sliding_sync_rooms
                    WHERE connection_id = ? AND room_id IN (\(databaseQuestionMarks(count: roomIDs.count)))
                    """,
                arguments: StatementArguments([connectionID]) + StatementArguments(roomIDs))
            {
                let pos: Int64 = row["pos"]
                let roomID: String = row["room_id"]
                if let existing = records[roomID], existing.pos > pos { continue }
                records[roomID] = (
                    pos,
                    SlidingSyncRoomRecord(roomID: roomID, sentUpTo: row["sent_up_to"], config: row["config"], extra: try JSON.stored(row["extra"]))
                )
            }
            return records.mapValues(\.record)
        }
    }

    public func recordSlidingSyncPosition(
        connectionID: Int64, parent: Int64?, streamPosition: Int64, listsDigest: String, rooms: [SlidingSyncRoomRecord]
    ) async throws -> Int64 {
        try await write { db in
            guard
                let pos = try Int64.fetchOne(db.cachedStatement(sql: "UPDATE sliding_sync_connections SET next_pos = next_pos + 1 WHERE id = ? RETURNING next_pos - 1"),
                    arguments: [connectionID])
            else { throw StorageError.notFound("sliding sync connection") }
            try db.cachedStatement(sql: "INSERT INTO sliding_sync_positions (connection_id, pos, parent, stream_ordering, lists_digest) VALUES (?, ?, ?, ?, ?)").execute(arguments: [connectionID, pos, parent, streamPosition, listsDigest])
            let insert = try db.cachedStatement(
                sql: "INSERT INTO sliding_sync_rooms (connection_id, room_id, pos, sent_up_to, config, extra) VALUES (?, ?, ?, ?, ?, ?)")
            for room in rooms {
                try insert.execute(arguments: [connectionID, room.roomID, pos, room.sentUpTo, room.config, room.extra.encodedString()])
            }
            return pos
        }
    }

    public func roomList(userID: String) async throws -> [RoomListEntry] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT m.room_id, m.membership, m.event_id, m.stream_ordering, r.bump_stamp, e.sender
                    FROM room_memberships m LEFT JOIN rooms r ON r.room_id = m.room_id LEFT JOIN events e ON e.event_id = m.event_id
                    WHERE m.user_id = ? AND m.forgotten = 0
                    """),
                arguments: [userID]
            ).map { row in
                RoomListEntry(
                    roomID: row["room_id"], membership: row["membership"], membershipEventID: row["event_id"],
                    membershipSender: row["sender"], membershipPosition: row["stream_ordering"], bumpStamp: row["bump_stamp"])
            }
        }
    }

    public func roomListSummary(userID: String) async throws -> (count: Int, latestMembership: Int64) {
        try await read { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) AS n, MAX(stream_ordering) AS latest FROM room_memberships WHERE user_id = ? AND forgotten = 0"),
                arguments: [userID])
            return (row?["n"] ?? 0, row?["latest"] ?? 0)
        }
    }

    public func bumpStamps(roomIDs: [String]) async throws -> [String: Int64] {
        guard !roomIDs.isEmpty else { return [:] }
        return try await read { db in
            var stamps: [String: Int64] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT room_id, bump_stamp FROM rooms WHERE bump_stamp IS NOT NULL AND room_id IN (\(databaseQuestionMarks(count: roomIDs.count)))",
                arguments: StatementArguments(roomIDs))
            {
                stamps[row["room_id"]] = row["bump_stamp"]
            }
            return stamps
        }
    }

    public func currentStateEvents(roomIDs: [String], keys: [StateKey]) async throws -> [StoredEvent] {
        guard !roomIDs.isEmpty, !keys.isEmpty else { return [] }
        return try await read { db in
            let keyClause = Array(repeating: "(s.type = ? AND s.state_key = ?)", count: keys.count).joined(separator: " OR ")
            var arguments = StatementArguments(roomIDs)
            for key in keys { arguments += [key.type, key.stateKey] }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT e.* FROM current_state s JOIN events e ON e.event_id = s.event_id
                    WHERE s.room_id IN (\(databaseQuestionMarks(count: roomIDs.count))) AND (\(keyClause))
                    """,
                arguments: arguments
            ).map(SQLiteRoomQueries.storedEvent)
        }
    }

    /// One statement whatever the request (the types and keys travel as JSON), so it is
    /// prepared once per connection; each half still seeks the state index.
    public func currentStateEvents(roomID: String, types: [String], keys: [StateKey]) async throws -> [StoredEvent] {
        guard !types.isEmpty || !keys.isEmpty else { return [] }
        let typeList = JSON.array(types.map(JSON.string)).encodedString()
        let keyList = JSON.array(keys.map { [.string($0.type), .string($0.stateKey)] }).encodedString()
        return try await read { db in
            var seen = Set<String>()
            return try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT e.* FROM current_state s JOIN events e ON e.event_id = s.event_id
                        WHERE s.room_id = ?1 AND s.type IN (SELECT value FROM json_each(?2))
                        UNION ALL
                        SELECT e.* FROM current_state s JOIN events e ON e.event_id = s.event_id
                        WHERE s.room_id = ?1
                        AND (s.type, s.state_key) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?3))
                        """),
                arguments: [roomID, typeList, keyList]
            ).map(SQLiteRoomQueries.storedEvent).filter { seen.insert($0.pdu.eventID).inserted }
        }
    }

    public func accountData(userID: String, roomIDs: [String], includingGlobal: Bool) async throws -> [AccountDataEntry] {
        try await read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = [userID]
            if includingGlobal { clauses.append("room_id = ''") }
            if !roomIDs.isEmpty {
                clauses.append("room_id IN (\(databaseQuestionMarks(count: roomIDs.count)))")
                arguments += StatementArguments(roomIDs)
            }
            guard !clauses.isEmpty else { return [] }
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM account_data WHERE user_id = ? AND (\(clauses.joined(separator: " OR "))) ORDER BY stream_ordering",
                arguments: arguments
            ).map(Self.accountDataEntry)
        }
    }

    /// From the cached member list, which keeps its counts and sorted rows (`RoomMembers`).
    public func memberCounts(roomID: String) async throws -> (joined: Int, invited: Int) {
        let members = try await roomMembers(roomID)
        return (members.joinedCount, members.invitedCount)
    }

    public func heroes(roomID: String, excluding: String, limit: Int) async throws -> [Membership] {
        try await roomMembers(roomID).heroes(excluding: excluding, limit: limit)
    }
}
