import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func listRooms(_ query: RoomListQuery, localServer: String) async throws -> (rooms: [RoomSummary], total: Int) {
        func stateValue(_ type: String, _ key: String) -> String {
            """
            (SELECT e.json::jsonb->'content'->>'\(key)' FROM current_state c JOIN events e ON e.event_id = c.event_id
             WHERE c.room_id = r.room_id AND c.type = '\(type)' AND c.state_key = '')
            """
        }
        let stateColumns = roomSummaryStateColumns.map { "\(stateValue($0.type, $0.key)) AS \($0.column)" }
        var bindings = PostgresBindings()
        bindings.append(":" + localServer)
        let summary = """
            WITH summary AS (
              SELECT r.room_id, r.version, r.creator, r.is_public, \(stateColumns.joined(separator: ", ")),
                coalesce(\(stateValue("m.room.create", "m.federate")), 'true') <> 'false' AS federatable,
                (SELECT COUNT(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join') AS joined_members,
                (SELECT COUNT(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join'
                  AND right(m.user_id, length($1)) = $1) AS joined_local_members,
                (SELECT COUNT(*) FROM current_state c WHERE c.room_id = r.room_id) AS state_events
              FROM rooms r)
            """
        var conditions: [String] = []
        if let term = query.searchTerm, !term.isEmpty {
            bindings.append(term.lowercased())
            let lowered = "$\(bindings.count)"
            bindings.append(term)
            conditions.append(
                """
                (strpos(lower(coalesce(name, '')), \(lowered)) > 0
                 OR strpos(lower(split_part(coalesce(canonical_alias, ''), ':', 1)), \(lowered)) > 0 OR room_id = $\(bindings.count))
                """)
        }
        if let publicRooms = query.publicRooms { conditions.append(publicRooms ? "is_public" : "NOT is_public") }
        if let empty = query.emptyRooms { conditions.append(empty ? "joined_members = 0" : "joined_members > 0") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let total = try await count("\(summary) SELECT COUNT(*) FROM summary \(filter)", bindings)
        let sql = """
            \(summary) SELECT room_id, name, canonical_alias, joined_members, joined_local_members, version, creator, encryption,
              federatable, is_public, join_rules, guest_access, history_visibility, state_events, room_type
            FROM summary \(filter) \(query.order.clause(descending: query.descending))
            """
        let rooms = try await page(sql, bindings, limit: query.limit, offset: query.from) { row in
            let c = try row.decode(
                (String, String?, String?, Int64, Int64, String, String, String?, Bool, Bool, String?, String?, String?, Int64, String?).self)
            return RoomSummary(
                roomID: c.0, name: c.1, canonicalAlias: c.2, joinedMembers: Int(c.3), joinedLocalMembers: Int(c.4), version: c.5,
                creator: c.6, encryption: c.7, federatable: c.8, isPublic: c.9, joinRules: c.10, guestAccess: c.11,
                historyVisibility: c.12, stateEvents: Int(c.13), roomType: c.14)
        }
        return (rooms, total)
    }

    public func deleteForwardExtremities(roomID: String, keeping: String) async throws -> Int {
        try await query("DELETE FROM forward_extremities WHERE room_id = \(roomID) AND event_id <> \(keeping) RETURNING event_id").count
    }

    public func purgeHistory(roomID: String, before stream: Int64, localServer: String, includeLocal: Bool) async throws -> Int {
        let logger = self.logger
        let suffix = ":" + localServer
        return try await transaction { connection in
            let eventIDs = try await connection.rows(
                """
                SELECT event_id FROM events WHERE room_id = \(roomID) AND stream_ordering < \(stream) AND state_key IS NULL
                  AND event_id NOT IN (SELECT event_id FROM forward_extremities WHERE room_id = \(roomID))
                  AND (\(includeLocal) OR right(sender, length(\(suffix))) <> \(suffix))
                """, logger: logger
            ).map { try $0.decode(String.self) }
            for table in perEventTables {
                _ = try await connection.rows("DELETE FROM \(unescaped: table) WHERE event_id = ANY(\(eventIDs))", logger: logger)
            }
            return eventIDs.count
        }
    }

    public func roomBlock(roomID: String) async throws -> String? {
        try await query("SELECT blocked_by FROM blocked_rooms WHERE room_id = \(roomID)").first.map { try $0.decode(String.self) }
    }

    public func setRoomBlock(roomID: String, by: String?) async throws {
        if let by {
            try await query(
                """
                INSERT INTO blocked_rooms (room_id, blocked_by) VALUES (\(roomID), \(by))
                ON CONFLICT (room_id) DO UPDATE SET blocked_by = excluded.blocked_by
                """)
        } else {
            try await query("DELETE FROM blocked_rooms WHERE room_id = \(roomID)")
        }
    }
}

extension PostgresStorage {
    public func saveAdminRoomTask(_ task: AdminRoomTask) async throws {
        let result = task.result.map { JSON.object($0).encodedString() }
        try await query(
            """
            INSERT INTO admin_room_tasks (id, kind, room_id, status, error, result, created_ts)
            VALUES (\(task.id), \(task.kind.rawValue), \(task.roomID), \(task.status), \(task.error), \(result), \(task.createdAt))
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, result = excluded.result
            """)
    }

    public func adminRoomTask(id: String) async throws -> AdminRoomTask? {
        try await query("SELECT id, kind, room_id, status, error, result, created_ts FROM admin_room_tasks WHERE id = \(id)")
            .first.map(Self.adminRoomTask)
    }

    public func adminRoomTasks(roomID: String, kind: AdminRoomTask.Kind) async throws -> [AdminRoomTask] {
        try await query(
            """
            SELECT id, kind, room_id, status, error, result, created_ts FROM admin_room_tasks
            WHERE room_id = \(roomID) AND kind = \(kind.rawValue) ORDER BY created_ts DESC, id DESC
            """
        ).map(Self.adminRoomTask)
    }

    public func unfinishedAdminRoomTasks() async throws -> [AdminRoomTask] {
        try await query(
            """
            SELECT id, kind, room_id, status, error, result, created_ts FROM admin_room_tasks
            WHERE status NOT IN ('complete', 'failed') ORDER BY created_ts, id
            """
        ).map(Self.adminRoomTask)
    }

    static func adminRoomTask(_ row: PostgresRow) throws -> AdminRoomTask {
        let (id, kind, roomID, status, error, result, created) = try row.decode((String, String, String, String, String?, String?, Int64).self)
        return AdminRoomTask(
            id: id, kind: AdminRoomTask.Kind(rawValue: kind) ?? .delete, roomID: roomID, status: status, error: error,
            result: try result.map { try JSON.stored($0).objectValue ?? [:] }, createdAt: created)
    }
}
