import MatrixModel
import PostgresNIO

extension PostgresStorage {
    static let accountColumns = "user_id, password_hash, is_admin, is_guest, deactivated, created_ts, profile, suspended, locked, shadow_banned"

    static func account(_ row: PostgresRow) throws -> Account {
        let (userID, hash, admin, guest, deactivated, created, profile, suspended, locked, shadowBanned) = try row.decode(
            (String, String?, Bool, Bool, Bool, Int64, String, Bool, Bool, Bool).self)
        var account = Account(
            userID: userID, passwordHash: hash, isAdmin: admin, isGuest: guest, isDeactivated: deactivated, createdAt: created,
            profile: try JSON.stored(profile).objectValue ?? [:])
        account.isSuspended = suspended
        account.isLocked = locked
        account.isShadowBanned = shadowBanned
        return account
    }

    static func device(_ row: PostgresRow) throws -> Device {
        let (userID, deviceID, name, ip, seen, agent) = try row.decode((String, String, String?, String?, Int64?, String?).self)
        return Device(userID: userID, deviceID: deviceID, displayName: name, lastSeenIP: ip, lastSeenAt: seen, lastSeenUserAgent: agent)
    }

    public func createAccount(_ account: Account, session: NewSession?) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.rows(
                """
                INSERT INTO users (user_id, user_id_lower, password_hash, is_admin, is_guest, deactivated, created_ts, profile)
                VALUES (\(account.userID), \(account.userID.lowercased()), \(account.passwordHash), \(account.isAdmin),
                    \(account.isGuest), \(account.isDeactivated), \(account.createdAt), \(JSON.object(account.profile).encodedString()))
                """, logger: logger)
            if let session { try await Self.insertSession(connection, session, logger: logger) }
        }
    }

    public func account(userID: String) async throws -> Account? {
        try await query("SELECT \(unescaped: Self.accountColumns) FROM users WHERE user_id = \(userID)").first.map(Self.account)
    }

    public func accounts(matchingLowercasedUserID userID: String) async throws -> [Account] {
        try await query(
            "SELECT \(unescaped: Self.accountColumns) FROM users WHERE user_id_lower = \(userID.lowercased()) ORDER BY user_id"
        ).map(Self.account)
    }

    public func nextGeneratedUserNumber() async throws -> Int64 {
        try await query("SELECT nextval('generated_user_numbers')")[0].decode(Int64.self)
    }

    public func createSession(_ session: NewSession) async throws {
        let logger = self.logger
        try await transaction { connection in try await Self.insertSession(connection, session, logger: logger) }
    }

    public func tokenOwner(tokenHash: String) async throws -> TokenOwner? {
        try await caches.tokenOwner(tokenHash) { try await uncachedTokenOwner(tokenHash: tokenHash) }
    }

    private func uncachedTokenOwner(tokenHash: String) async throws -> TokenOwner? {
        try await query(
            """
            SELECT t.user_id, t.device_id, t.expires_ts, t.refresh_token_hash, t.confirms_refresh, u.is_guest, u.is_admin, u.suspended,
              u.locked, u.shadow_banned, o.messages_per_second, o.burst_count
            FROM access_tokens t JOIN users u ON u.user_id = t.user_id LEFT JOIN ratelimit_overrides o ON o.user_id = t.user_id
            WHERE t.token_hash = \(tokenHash) AND NOT u.deactivated
            """
        ).first.map { row in
            let (userID, deviceID, expires, refreshHash, confirmsRefresh, guest, admin, suspended, locked, shadowBanned, perSecond, burst) =
                try row.decode((String, String, Int64?, String?, Bool, Bool, Bool, Bool, Bool, Bool, Int64?, Int64?).self)
            var owner = TokenOwner(userID: userID, deviceID: deviceID, isGuest: guest, isAdmin: admin, isSuspended: suspended, isLocked: locked)
            owner.isShadowBanned = shadowBanned
            owner.expiresAt = expires
            if confirmsRefresh { owner.unconfirmedRefreshTokenHash = refreshHash }
            if let perSecond, let burst { owner.rateLimitOverride = RateLimitOverride(messagesPerSecond: perSecond, burstCount: burst) }
            return owner
        }
    }

    /// Deleting devices deletes their keys and messages (foreign keys) and tells the users
    /// who share a room through a device-list change.
    public func deleteDevices(userID: String, deviceIDs: [String]) async throws -> Int64? {
        let logger = self.logger
        return try await transaction { connection in
            let deleted = try await connection.rows(
                "DELETE FROM devices WHERE user_id = \(userID) AND device_id = ANY(\(deviceIDs)) RETURNING device_id", logger: logger)
            try await connection.rows(
                "DELETE FROM lazy_members_sent WHERE user_id = \(userID) AND device_id = ANY(\(deviceIDs))", logger: logger)
            guard !deleted.isEmpty else { return nil }
            return try await Self.insertDeviceListChange(connection, users: [userID], logger: logger)
        }
    }

    public func deleteAllDevices(userID: String, keepingDeviceID: String?) async throws -> Int64? {
        let logger = self.logger
        return try await transaction { connection in
            let deleted = try await connection.rows(
                "DELETE FROM devices WHERE user_id = \(userID) AND device_id IS DISTINCT FROM \(keepingDeviceID) RETURNING device_id",
                logger: logger)
            try await connection.rows(
                "DELETE FROM lazy_members_sent WHERE user_id = \(userID) AND device_id IS DISTINCT FROM \(keepingDeviceID)", logger: logger)
            guard !deleted.isEmpty else { return nil }
            return try await Self.insertDeviceListChange(connection, users: [userID], logger: logger)
        }
    }

    public func devices(userID: String) async throws -> [Device] {
        try await query(
            "SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts, last_seen_user_agent FROM devices WHERE user_id = \(userID) ORDER BY device_id"
        ).map(Self.device)
    }

    public func device(userID: String, deviceID: String) async throws -> Device? {
        try await query(
            """
            SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts, last_seen_user_agent FROM devices
            WHERE user_id = \(userID) AND device_id = \(deviceID)
            """
        ).first.map(Self.device)
    }

    public func setDeviceDisplayName(userID: String, deviceID: String, displayName: String?) async throws -> Bool {
        try await !query(
            "UPDATE devices SET display_name = \(displayName) WHERE user_id = \(userID) AND device_id = \(deviceID) RETURNING device_id"
        ).isEmpty
    }

    public func recordDeviceSeen(userID: String, deviceID: String, ip: String, userAgent: String?, at: Int64) async throws {
        try await query(
            """
            UPDATE devices SET last_seen_ip = \(ip), last_seen_ts = \(at), last_seen_user_agent = \(userAgent)
            WHERE user_id = \(userID) AND device_id = \(deviceID)
            """)
    }

    public func upgradeGuest(userID: String, passwordHash: String) async throws -> Bool {
        !(try await query(
            """
            UPDATE users SET is_guest = FALSE, password_hash = \(passwordHash)
            WHERE user_id = \(userID) AND is_guest AND NOT deactivated RETURNING user_id
            """
        ).isEmpty)
    }

    public func createOpenIDToken(tokenHash: String, userID: String, expiresAt: Int64) async throws {
        try await query("DELETE FROM openid_tokens WHERE expires_ts <= \(expiresAt - 2 * 3_600_000)")
        try await query("INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (\(tokenHash), \(userID), \(expiresAt))")
    }

    public func openIDTokenUser(tokenHash: String, now: Int64) async throws -> String? {
        try await query("SELECT user_id FROM openid_tokens WHERE token_hash = \(tokenHash) AND expires_ts > \(now)").first?
            .decode(String.self)
    }

    public func erasedUsers(among userIDs: Set<String>) async throws -> Set<String> {
        guard !userIDs.isEmpty else { return [] }
        return Set(try await query("SELECT user_id FROM users WHERE erased AND user_id = ANY(\(Array(userIDs)))").map { try $0.decode(String.self) })
    }

    public func setPasswordHash(userID: String, hash: String) async throws {
        try await query("UPDATE users SET password_hash = \(hash) WHERE user_id = \(userID)")
    }

    public func deactivateAccount(userID: String, erase: Bool) async throws -> Int64? {
        let logger = self.logger
        return try await transaction { connection in
            try await connection.rows(
                """
                UPDATE users SET deactivated = TRUE, password_hash = NULL, profile = '{}', erased = erased OR \(erase)
                WHERE user_id = \(userID)
                """, logger: logger)
            if erase { try await connection.rows("DELETE FROM account_data WHERE user_id = \(userID)", logger: logger) }
            try await connection.rows("DELETE FROM devices WHERE user_id = \(userID)", logger: logger)
            try await connection.rows("DELETE FROM lazy_members_sent WHERE user_id = \(userID)", logger: logger)
            try await connection.rows("DELETE FROM login_tokens WHERE user_id = \(userID)", logger: logger)
            try await connection.rows("DELETE FROM user_threepids WHERE user_id = \(userID)", logger: logger)
            try await connection.rows("DELETE FROM pushers WHERE user_id = \(userID)", logger: logger)
            try await connection.rows("DELETE FROM cross_signing_keys WHERE user_id = \(userID)", logger: logger)
            return try await Self.insertDeviceListChange(connection, users: [userID], logger: logger)
        }
    }

    public func setProfileField(userID: String, key: String, value: JSON?) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in
            guard let row = try await connection.rows("SELECT profile FROM users WHERE user_id = \(userID) FOR UPDATE", logger: logger).first
            else { return false }
            var profile = try JSON.stored(try row.decode(String.self)).objectValue ?? [:]
            profile[key] = value
            try await connection.rows(
                "UPDATE users SET profile = \(JSON.object(profile).encodedString()) WHERE user_id = \(userID)", logger: logger)
            return true
        }
    }

    public func saveUIASession(_ session: UIASession) async throws {
        let completed = JSON.array(session.completedStages.map(JSON.string)).encodedString()
        try await query(
            """
            INSERT INTO uia_sessions (session_id, operation, user_id, completed, created_ts, params)
            VALUES (\(session.sessionID), \(session.operation), \(session.userID), \(completed), \(session.createdAt), \(session.params?.encodedString()))
            ON CONFLICT (session_id) DO UPDATE SET completed = excluded.completed, params = excluded.params
            """)
    }

    public func uiaSession(id: String) async throws -> UIASession? {
        try await query("SELECT session_id, operation, user_id, completed, created_ts, params FROM uia_sessions WHERE session_id = \(id)")
            .first.map { row in
                let (sessionID, operation, userID, completed, created, params) = try row.decode((String, String, String?, String, Int64, String?).self)
                return UIASession(
                    sessionID: sessionID, operation: operation, userID: userID,
                    completedStages: try JSON.stored(completed).arrayValue?.compactMap(\.stringValue) ?? [], createdAt: created,
                    params: try params.map { try JSON.stored($0) })
            }
    }

    public func deleteUIASession(id: String) async throws {
        try await query("DELETE FROM uia_sessions WHERE session_id = \(id)")
    }

    public func deleteUIASessions(olderThan: Int64) async throws {
        try await query("DELETE FROM uia_sessions WHERE created_ts < \(olderThan)")
    }

    static func insertSession(_ connection: PostgresConnection, _ session: NewSession, logger: Logger) async throws {
        let device = session.device
        try await connection.rows(
            """
            INSERT INTO devices (user_id, device_id, display_name, last_seen_ip, last_seen_ts, created_ts)
            VALUES (\(device.userID), \(device.deviceID), \(device.displayName), \(session.ip), \(session.createdAt), \(session.createdAt))
            ON CONFLICT (user_id, device_id) DO UPDATE SET
                display_name = COALESCE(excluded.display_name, devices.display_name),
                last_seen_ip = excluded.last_seen_ip, last_seen_ts = excluded.last_seen_ts
            """, logger: logger)
        guard let tokenHash = session.tokenHash else { return }
        try await connection.rows(
            "DELETE FROM access_tokens WHERE user_id = \(device.userID) AND device_id = \(device.deviceID)", logger: logger)
        try await connection.rows(
            "DELETE FROM refresh_tokens WHERE user_id = \(device.userID) AND device_id = \(device.deviceID)", logger: logger)
        try await connection.rows(
            """
            INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash)
            VALUES (\(tokenHash), \(device.userID), \(device.deviceID), \(session.createdAt), \(session.accessExpiresAt),
                \(session.refreshTokenHash))
            """, logger: logger)
        if let refreshHash = session.refreshTokenHash {
            try await connection.rows(
                """
                INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, oauth_client_id, scope)
                VALUES (\(refreshHash), \(device.userID), \(device.deviceID), \(session.createdAt), \(session.refreshExpiresAt),
                    \(session.oauthClientID), \(session.scope))
                """, logger: logger)
        }
    }
}
