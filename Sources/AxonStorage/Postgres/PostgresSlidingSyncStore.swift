import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func openSlidingSyncConnection(userID: String, deviceID: String, connID: String, now: Int64, keepingAtMost: Int) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            try await connection.rows(
                "DELETE FROM sliding_sync_connections WHERE user_id = \(userID) AND device_id = \(deviceID) AND conn_id = \(connID)",
                logger: logger)
            let id = try await connection.rows(
                """
                INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, last_used_ts)
                VALUES (\(userID), \(deviceID), \(connID), \(now)) RETURNING id
                """, logger: logger)[0].decode(Int64.self)
            try await connection.rows(
                """
                DELETE FROM sliding_sync_connections WHERE user_id = \(userID) AND device_id = \(deviceID) AND id NOT IN (
                    SELECT id FROM sliding_sync_connections WHERE user_id = \(userID) AND device_id = \(deviceID)
                    ORDER BY last_used_ts DESC, id DESC LIMIT \(Int64(keepingAtMost)))
                """, logger: logger)
            return id
        }
    }

    public func resumeSlidingSyncConnection(
        connectionID: Int64, pos: Int64, userID: String, deviceID: String, connID: String, now: Int64, unusedSince: Int64
    ) async throws -> SlidingSyncResumption? {
        let logger = self.logger
        return try await transaction { connection in
            // The row lock makes two requests resuming one connection take turns.
            guard
                try await !connection.rows(
                    """
                    SELECT 1 FROM sliding_sync_connections WHERE id = \(connectionID) AND user_id = \(userID) AND device_id = \(deviceID)
                    AND conn_id = \(connID) AND last_used_ts >= \(unusedSince) FOR UPDATE
                    """, logger: logger
                ).isEmpty,
                let position = try await connection.rows(
                    "SELECT parent, stream_ordering, lists_digest FROM sliding_sync_positions WHERE connection_id = \(connectionID) AND pos = \(pos)",
                    logger: logger
                ).first
            else { return nil }
            let (parent, stream, digest) = try position.decode((Int64?, Int64, String).self)
            try await connection.rows(
                """
                DELETE FROM sliding_sync_rooms WHERE connection_id = \(connectionID) AND pos IN (
                    SELECT pos FROM sliding_sync_positions WHERE connection_id = \(connectionID) AND pos != \(pos)
                    AND pos IS DISTINCT FROM \(parent))
                """, logger: logger)
            try await connection.rows(
                "DELETE FROM sliding_sync_positions WHERE connection_id = \(connectionID) AND pos != \(pos)", logger: logger)
            try await connection.rows(
                """
                DELETE FROM sliding_sync_rooms WHERE connection_id = \(connectionID) AND pos < \(pos) AND room_id IN (
                    SELECT room_id FROM sliding_sync_rooms WHERE connection_id = \(connectionID) AND pos = \(pos))
                """, logger: logger)
            try await connection.rows(
                "UPDATE sliding_sync_connections SET last_used_ts = \(now) WHERE id = \(connectionID)", logger: logger)
            return SlidingSyncResumption(streamPosition: stream, listsDigest: digest)
        }
    }

    public func slidingSyncRooms(connectionID: Int64, roomIDs: [String]) async throws -> [String: SlidingSyncRoomRecord] {
        guard !roomIDs.isEmpty else { return [:] }
        var records: [String: (pos: Int64, record: SlidingSyncRoomRecord)] = [:]
        for row in try await query(
            """
            SELECT room_id, pos, sent_up_to, config, extra FROM sliding_sync_rooms
            WHERE connection_id = \(connectionID) AND room_id = ANY(\(roomIDs))
            """)
        {
            let (roomID, pos, sentUpTo, config, extra) = try row.decode((String, Int64, Int64?, String, String).self)
            if let existing = records[roomID], existing.pos > pos { continue }
            records[roomID] = (pos, SlidingSyncRoomRecord(roomID: roomID, sentUpTo: sentUpTo, config: config, extra: try JSON.stored(extra)))
        }
        return records.mapValues(\.record)
    }

    public func recordSlidingSyncPosition(
        connectionID: Int64, parent: Int64?, streamPosition: Int64, listsDigest: String, rooms: [SlidingSyncRoomRecord]
    ) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            guard
                let pos = try await connection.rows(
                    "UPDATE sliding_sync_connections SET next_pos = next_pos + 1 WHERE id = \(connectionID) RETURNING next_pos - 1",
                    logger: logger
                ).first?.decode(Int64.self)
            else { throw StorageError.notFound("sliding sync connection") }
            try await connection.rows(
                """
                INSERT INTO sliding_sync_positions (connection_id, pos, parent, stream_ordering, lists_digest)
                VALUES (\(connectionID), \(pos), \(parent), \(streamPosition), \(listsDigest))
                """, logger: logger)
            if !rooms.isEmpty {
                try await connection.rows(
                    """
                    INSERT INTO sliding_sync_rooms (connection_id, room_id, pos, sent_up_to, config, extra)
                    SELECT \(connectionID), r, \(pos), NULLIF(s, -1), c, x FROM unnest(\(rooms.map(\.roomID)), \(rooms.map { $0.sentUpTo ?? -1 }),
                        \(rooms.map(\.config)), \(rooms.map { $0.extra.encodedString() })) AS t(r, s, c, x)
                    """, logger: logger)
            }
            return pos
        }
    }

    public func roomList(userID: String) async throws -> [RoomListEntry] {
        try await query(
            """
            SELECT m.room_id, m.membership, m.event_id, m.stream_ordering, r.bump_stamp, e.sender
            FROM room_memberships m LEFT JOIN rooms r ON r.room_id = m.room_id LEFT JOIN events e ON e.event_id = m.event_id
            WHERE m.user_id = \(userID) AND NOT m.forgotten
            """
        ).map { row in
            let (roomID, membership, eventID, position, bump, sender) = try row.decode((String, String, String, Int64, Int64?, String?).self)
            return RoomListEntry(
                roomID: roomID, membership: membership, membershipEventID: eventID, membershipSender: sender, membershipPosition: position,
                bumpStamp: bump)
        }
    }

    public func roomListSummary(userID: String) async throws -> (count: Int, latestMembership: Int64) {
        let row = try await query(
            "SELECT COUNT(*), COALESCE(MAX(stream_ordering), 0) FROM room_memberships WHERE user_id = \(userID) AND NOT forgotten")
        let (count, latest) = try row[0].decode((Int64, Int64).self)
        return (Int(count), latest)
    }

    public func bumpStamps(roomIDs: [String]) async throws -> [String: Int64] {
        guard !roomIDs.isEmpty else { return [:] }
        var stamps: [String: Int64] = [:]
        for row in try await query("SELECT room_id, bump_stamp FROM rooms WHERE bump_stamp IS NOT NULL AND room_id = ANY(\(roomIDs))") {
            let (roomID, stamp) = try row.decode((String, Int64).self)
            stamps[roomID] = stamp
        }
        return stamps
    }

    public func currentStateEvents(roomIDs: [String], keys: [StateKey]) async throws -> [StoredEvent] {
        guard !roomIDs.isEmpty, !keys.isEmpty else { return [] }
        return try await query(
            """
            SELECT \(unescaped: Self.eventColumnsE) FROM current_state s JOIN events e ON e.event_id = s.event_id
            WHERE s.room_id = ANY(\(roomIDs))
            AND (s.type, s.state_key) IN (SELECT * FROM unnest(\(keys.map(\.type)), \(keys.map(\.stateKey))))
            """
        ).map(Self.storedEvent)
    }

    public func currentStateEvents(roomID: String, types: [String], keys: [StateKey]) async throws -> [StoredEvent] {
        guard !types.isEmpty || !keys.isEmpty else { return [] }
        return try await query(
            """
            SELECT \(unescaped: Self.eventColumnsE) FROM current_state s JOIN events e ON e.event_id = s.event_id
            WHERE s.room_id = \(roomID) AND (s.type = ANY(\(types))
                OR (s.type, s.state_key) IN (SELECT * FROM unnest(\(keys.map(\.type)), \(keys.map(\.stateKey)))))
            """
        ).map(Self.storedEvent)
    }

    public func accountData(userID: String, roomIDs: [String], includingGlobal: Bool) async throws -> [AccountDataEntry] {
        let rooms = includingGlobal ? roomIDs + [""] : roomIDs
        guard !rooms.isEmpty else { return [] }
        return try await query(
            """
            SELECT room_id, type, content, stream_ordering FROM account_data WHERE user_id = \(userID) AND room_id = ANY(\(rooms))
            ORDER BY stream_ordering
            """
        ).map(Self.accountDataEntry)
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
