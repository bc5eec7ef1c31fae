import GRDB
import MatrixModel

extension SQLiteStorage {
    public func listRooms(_ query: RoomListQuery, localServer: String) async throws -> (rooms: [RoomSummary], total: Int) {
        try await read { db in
            func stateValue(_ type: String, _ path: String) -> String {
                """
                (SELECT json_extract(e.json, '$.content.\(path)') FROM current_state c JOIN events e ON e.event_id = c.event_id
                 WHERE c.room_id = r.room_id AND c.type = '\(type)' AND c.state_key = '')
                """
            }
            let stateColumns = roomSummaryStateColumns.map { "\(stateValue($0.type, $0.key)) AS \($0.column)" }
            let suffix = ":" + localServer
            let summary = """
                WITH summary AS (
                  SELECT r.room_id, r.version, r.creator, r.is_public, \(stateColumns.joined(separator: ", ")),
                    coalesce(\(stateValue("m.room.create", "\"m.federate\"")), 1) != 0 AS federatable,
                    (SELECT COUNT(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join') AS joined_members,
                    (SELECT COUNT(*) FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join'
                      AND substr(m.user_id, -length(?)) = ?) AS joined_local_members,
                    (SELECT COUNT(*) FROM current_state c WHERE c.room_id = r.room_id) AS state_events
                  FROM rooms r)
                """
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible] = [suffix, suffix]
            if let term = query.searchTerm, !term.isEmpty {
                conditions.append(
                    """
                    (instr(lower(coalesce(name, '')), ?) > 0
                     OR instr(lower(substr(coalesce(canonical_alias, ''), 1, instr(coalesce(canonical_alias, ''), ':') - 1)), ?) > 0
                     OR room_id = ?)
                    """)
                arguments += [term.lowercased(), term.lowercased(), term]
            }
            if let publicRooms = query.publicRooms { conditions.append(publicRooms ? "is_public = 1" : "is_public = 0") }
            if let empty = query.emptyRooms { conditions.append(empty ? "joined_members = 0" : "joined_members > 0") }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "\(summary) SELECT COUNT(*) FROM summary \(filter)", arguments: StatementArguments(arguments)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "\(summary) SELECT * FROM summary \(filter) \(query.order.clause(descending: query.descending)) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            let rooms = rows.map { row in
                RoomSummary(
                    roomID: row["room_id"], name: row["name"], canonicalAlias: row["canonical_alias"], joinedMembers: row["joined_members"],
                    joinedLocalMembers: row["joined_local_members"], version: row["version"], creator: row["creator"],
                    encryption: row["encryption"], federatable: row["federatable"], isPublic: row["is_public"], joinRules: row["join_rules"],
                    guestAccess: row["guest_access"], historyVisibility: row["history_visibility"], stateEvents: row["state_events"],
                    roomType: row["room_type"])
            }
            return (rooms, total)
        }
    }

    public func deleteForwardExtremities(roomID: String, keeping: String) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM forward_extremities WHERE room_id = ? AND event_id != ?").execute(arguments: [roomID, keeping])
            return db.changesCount
        }
    }

    public func purgeHistory(roomID: String, before stream: Int64, localServer: String, includeLocal: Bool) async throws -> Int {
        try await write { db in
            let suffix = ":" + localServer
            let eventIDs = try String.fetchAll(db.cachedStatement(sql: """
                    SELECT event_id FROM events WHERE room_id = ? AND stream_ordering < ? AND state_key IS NULL
                      AND event_id NOT IN (SELECT event_id FROM forward_extremities WHERE room_id = ?)
                      AND (? OR substr(sender, -length(?)) != ?)
                    """),
                arguments: [roomID, stream, roomID, includeLocal, suffix, suffix])
            for eventID in eventIDs {
                for table in perEventTables { try db.execute(sql: "DELETE FROM \(table) WHERE event_id = ?", arguments: [eventID]) }
            }
            return eventIDs.count
        }
    }

    public func roomBlock(roomID: String) async throws -> String? {
        try await read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT blocked_by FROM blocked_rooms WHERE room_id = ?"), arguments: [roomID]) }
    }

    public func setRoomBlock(roomID: String, by: String?) async throws {
        try await write { db in
            if let by {
                try db.cachedStatement(sql: "INSERT INTO blocked_rooms (room_id, blocked_by) VALUES (?, ?) ON CONFLICT (room_id) DO UPDATE SET blocked_by = excluded.blocked_by").execute(arguments: [roomID, by])
            } else {
                try db.cachedStatement(sql: "DELETE FROM blocked_rooms WHERE room_id = ?").execute(arguments: [roomID])
            }
        }
    }
}

extension SQLiteStorage {
    public func saveAdminRoomTask(_ task: AdminRoomTask) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO admin_room_tasks (id, kind, room_id, status, error, result, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, result = excluded.result
                    """).execute(arguments: [task.id, task.kind.rawValue, task.roomID, task.status, task.error, task.result.map { JSON.object($0).encodedString() }, task.createdAt])
        }
    }

    public func adminRoomTask(id: String) async throws -> AdminRoomTask? {
        try await read { db in try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM admin_room_tasks WHERE id = ?"), arguments: [id]).map(Self.adminRoomTask) }
    }

    public func adminRoomTasks(roomID: String, kind: AdminRoomTask.Kind) async throws -> [AdminRoomTask] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM admin_room_tasks WHERE room_id = ? AND kind = ? ORDER BY created_ts DESC, id DESC"),
                arguments: [roomID, kind.rawValue]
            ).map(Self.adminRoomTask)
        }
    }

    public func unfinishedAdminRoomTasks() async throws -> [AdminRoomTask] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM admin_room_tasks WHERE status NOT IN ('complete', 'failed') ORDER BY created_ts, id"))
                .map(Self.adminRoomTask)
        }
    }

    static func adminRoomTask(_ row: Row) throws -> AdminRoomTask {
        AdminRoomTask(
            id: row["id"], kind: AdminRoomTask.Kind(rawValue: row["kind"]) ?? .delete, roomID: row["room_id"], status: row["status"],
            error: row["error"], result: try (row["result"] as String?).map { try JSON.stored($0).objectValue ?? [:] },
            createdAt: row["created_ts"])
    }
}
