import GRDB
import MatrixModel

extension SQLiteStorage {
    public func listAccounts(_ query: AccountListQuery) async throws -> (accounts: [Account], total: Int) {
        try await read { db in
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible] = []
            if let name = query.name, !name.isEmpty {
                conditions.append("(instr(lower(user_id), ?) > 0 OR instr(lower(coalesce(json_extract(profile, '$.displayname'), '')), ?) > 0)")
                arguments += [name.lowercased(), name.lowercased()]
            }
            if let guests = query.guests { conditions.append(guests ? "is_guest = 1" : "is_guest = 0") }
            if let deactivated = query.deactivated { conditions.append(deactivated ? "deactivated = 1" : "deactivated = 0") }
            if let admins = query.admins { conditions.append(admins ? "is_admin = 1" : "is_admin = 0") }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users \(filter)", arguments: StatementArguments(arguments)) ?? 0
            let column = query.order.column(displayName: "coalesce(json_extract(profile, '$.displayname'), '')")
            let direction = query.descending ? "DESC" : "ASC"
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM users \(filter) ORDER BY \(column) \(direction), user_id \(direction) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            return (try rows.map(Self.account), total)
        }
    }

    public func setAdmin(userID: String, isAdmin: Bool) async throws {
        try await write { db in try db.cachedStatement(sql: "UPDATE users SET is_admin = ? WHERE user_id = ?").execute(arguments: [isAdmin, userID]) }
    }

    public func reactivateAccount(userID: String) async throws {
        try await write { db in try db.cachedStatement(sql: "UPDATE users SET deactivated = 0 WHERE user_id = ?").execute(arguments: [userID]) }
    }

    public func accountRestrictions(userID: String) async throws -> (suspended: Bool, locked: Bool)? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT suspended, locked FROM users WHERE user_id = ?"), arguments: [userID]).map { ($0["suspended"], $0["locked"]) }
        }
    }

    public func setSuspended(userID: String, suspended: Bool) async throws {
        try await write { db in try db.cachedStatement(sql: "UPDATE users SET suspended = ? WHERE user_id = ?").execute(arguments: [suspended, userID]) }
    }

    public func setLocked(userID: String, locked: Bool) async throws {
        try await write { db in try db.cachedStatement(sql: "UPDATE users SET locked = ? WHERE user_id = ?").execute(arguments: [locked, userID]) }
    }

    public func sentInviteCount(userID: String, since: Int64) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: """
                    SELECT COUNT(*) FROM events WHERE type = 'm.room.member' AND sender = ? AND state_key != ? AND origin_server_ts >= ?
                      AND json_extract(json, '$.content.membership') = 'invite'
                    """),
                arguments: [userID, userID, since]) ?? 0
        }
    }

    public func everJoinedRoomCount(userID: String) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: """
                    SELECT COUNT(DISTINCT room_id) FROM events WHERE type = 'm.room.member' AND state_key = ?
                      AND json_extract(json, '$.content.membership') = 'join'
                    """),
                arguments: [userID]) ?? 0
        }
    }

    public func setShadowBanned(userID: String, shadowBanned: Bool) async throws {
        try await write { db in try db.cachedStatement(sql: "UPDATE users SET shadow_banned = ? WHERE user_id = ?").execute(arguments: [shadowBanned, userID]) }
    }

    public func rateLimitOverride(userID: String) async throws -> RateLimitOverride? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM ratelimit_overrides WHERE user_id = ?"), arguments: [userID]).map {
                RateLimitOverride(messagesPerSecond: $0["messages_per_second"], burstCount: $0["burst_count"])
            }
        }
    }

    public func setRateLimitOverride(userID: String, _ override: RateLimitOverride?) async throws {
        try await write { db in
            guard let override else {
                try db.cachedStatement(sql: "DELETE FROM ratelimit_overrides WHERE user_id = ?").execute(arguments: [userID])
                return
            }
            try db.cachedStatement(sql: """
                    INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count) VALUES (?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET messages_per_second = excluded.messages_per_second, burst_count = excluded.burst_count
                    """).execute(arguments: [userID, override.messagesPerSecond, override.burstCount])
        }
    }
}
