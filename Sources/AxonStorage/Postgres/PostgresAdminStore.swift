import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func listAccounts(_ query: AccountListQuery) async throws -> (accounts: [Account], total: Int) {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        if let name = query.name, !name.isEmpty {
            bindings.append(name.lowercased())
            let parameter = "$\(bindings.count)"
            conditions.append("(strpos(lower(user_id), \(parameter)) > 0 OR strpos(lower(coalesce(profile::jsonb->>'displayname', '')), \(parameter)) > 0)")
        }
        if let guests = query.guests { conditions.append(guests ? "is_guest" : "NOT is_guest") }
        if let deactivated = query.deactivated { conditions.append(deactivated ? "deactivated" : "NOT deactivated") }
        if let admins = query.admins { conditions.append(admins ? "is_admin" : "NOT is_admin") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let total = try await count("SELECT COUNT(*) FROM users \(filter)", bindings)
        let column = query.order.column(displayName: "coalesce(profile::jsonb->>'displayname', '')")
        let direction = query.descending ? "DESC" : "ASC"
        let accounts = try await page(
            "SELECT \(Self.accountColumns) FROM users \(filter) ORDER BY \(column) \(direction), user_id \(direction)", bindings,
            limit: query.limit, offset: query.from, Self.account)
        return (accounts, total)
    }

    public func setAdmin(userID: String, isAdmin: Bool) async throws {
        try await query("UPDATE users SET is_admin = \(isAdmin) WHERE user_id = \(userID)")
    }

    public func reactivateAccount(userID: String) async throws {
        try await query("UPDATE users SET deactivated = FALSE WHERE user_id = \(userID)")
    }

    public func accountRestrictions(userID: String) async throws -> (suspended: Bool, locked: Bool)? {
        try await query("SELECT suspended, locked FROM users WHERE user_id = \(userID)").first.map { try $0.decode((Bool, Bool).self) }
    }

    public func setSuspended(userID: String, suspended: Bool) async throws {
        try await query("UPDATE users SET suspended = \(suspended) WHERE user_id = \(userID)")
    }

    public func setLocked(userID: String, locked: Bool) async throws {
        try await query("UPDATE users SET locked = \(locked) WHERE user_id = \(userID)")
    }

    public func sentInviteCount(userID: String, since: Int64) async throws -> Int {
        Int(
            try await query(
                """
                SELECT COUNT(*) FROM events WHERE type = 'm.room.member' AND sender = \(userID) AND state_key <> \(userID)
                  AND origin_server_ts >= \(since) AND json::jsonb->'content'->>'membership' = 'invite'
                """
            ).first?.decode(Int64.self) ?? 0)
    }

    public func everJoinedRoomCount(userID: String) async throws -> Int {
        Int(
            try await query(
                """
                SELECT COUNT(DISTINCT room_id) FROM events WHERE type = 'm.room.member' AND state_key = \(userID)
                  AND json::jsonb->'content'->>'membership' = 'join'
                """
            ).first?.decode(Int64.self) ?? 0)
    }

    public func setShadowBanned(userID: String, shadowBanned: Bool) async throws {
        try await query("UPDATE users SET shadow_banned = \(shadowBanned) WHERE user_id = \(userID)")
    }

    public func rateLimitOverride(userID: String) async throws -> RateLimitOverride? {
        try await query("SELECT messages_per_second, burst_count FROM ratelimit_overrides WHERE user_id = \(userID)").first.map { row in
            let (perSecond, burst) = try row.decode((Int64, Int64).self)
            return RateLimitOverride(messagesPerSecond: perSecond, burstCount: burst)
        }
    }

    public func setRateLimitOverride(userID: String, _ override: RateLimitOverride?) async throws {
        guard let override else {
            try await query("DELETE FROM ratelimit_overrides WHERE user_id = \(userID)")
            return
        }
        try await query(
            """
            INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count)
            VALUES (\(userID), \(override.messagesPerSecond), \(override.burstCount))
            ON CONFLICT (user_id) DO UPDATE SET messages_per_second = excluded.messages_per_second, burst_count = excluded.burst_count
            """)
    }
}
