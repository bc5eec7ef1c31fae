import GRDB
import MatrixModel

extension SQLiteStorage {
    public func createAccount(_ account: Account, session: NewSession?) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO users (user_id, user_id_lower, password_hash, is_admin, is_guest, deactivated, created_ts, profile)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    account.userID, account.userID.lowercased(), account.passwordHash, account.isAdmin,
                    account.isGuest, account.isDeactivated, account.createdAt, JSON.object(account.profile).encodedString(),
                ])
            if let session { try Self.insertSession(db, session) }
        }
    }

    public func account(userID: String) async throws -> Account? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE user_id = ?"), arguments: [userID]).map(Self.account)
        }
    }

    public func accounts(matchingLowercasedUserID userID: String) async throws -> [Account] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM users WHERE user_id_lower = ? ORDER BY user_id"), arguments: [userID.lowercased()])
                .map(Self.account)
        }
    }

    public func nextGeneratedUserNumber() async throws -> Int64 {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO generated_user_numbers DEFAULT VALUES").execute()
            return db.lastInsertedRowID
        }
    }

    public func createSession(_ session: NewSession) async throws {
        try await write { db in try Self.insertSession(db, session) }
    }

    public func tokenOwner(tokenHash: String) async throws -> TokenOwner? {
        try await caches.tokenOwner(tokenHash) { try await uncachedTokenOwner(tokenHash: tokenHash) }
    }

    private func uncachedTokenOwner(tokenHash: String) async throws -> TokenOwner? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                    SELECT t.user_id, t.device_id, t.expires_ts, t.refresh_token_hash, t.confirms_refresh, u.is_guest, u.is_admin,
                      u.suspended, u.locked, u.shadow_banned, o.messages_per_second, o.burst_count
                    FROM access_tokens t JOIN users u ON u.user_id = t.user_id LEFT JOIN ratelimit_overrides o ON o.user_id = t.user_id
                    WHERE t.token_hash = ? AND u.deactivated = 0
                    """),
                arguments: [tokenHash]
            ).map { row in
                var owner = TokenOwner(
                    userID: row["user_id"], deviceID: row["device_id"], isGuest: row["is_guest"], isAdmin: row["is_admin"],
                    isSuspended: row["suspended"], isLocked: row["locked"])
                owner.isShadowBanned = row["shadow_banned"]
                owner.expiresAt = row["expires_ts"]
                if row["confirms_refresh"] as Bool { owner.unconfirmedRefreshTokenHash = row["refresh_token_hash"] }
                if let perSecond: Int64 = row["messages_per_second"], let burst: Int64 = row["burst_count"] {
                    owner.rateLimitOverride = RateLimitOverride(messagesPerSecond: perSecond, burstCount: burst)
                }
                return owner
            }
        }
    }

    /// Deleting devices deletes their keys and messages (foreign keys) and tells the users
    /// who share a room through a device-list change.
    public func deleteDevices(userID: String, deviceIDs: [String]) async throws -> Int64? {
        try await write { db in
            var deleted = 0
            for deviceID in deviceIDs {
                try db.cachedStatement(sql: "DELETE FROM devices WHERE user_id = ? AND device_id = ?").execute(arguments: [userID, deviceID])
                deleted += db.changesCount
                try db.cachedStatement(sql: "DELETE FROM lazy_members_sent WHERE user_id = ? AND device_id = ?").execute(arguments: [userID, deviceID])
            }
            return deleted > 0 ? try Self.insertDeviceListChange(db, users: [userID]) : nil
        }
    }

    public func deleteAllDevices(userID: String, keepingDeviceID: String?) async throws -> Int64? {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM devices WHERE user_id = ? AND device_id IS NOT ?").execute(arguments: [userID, keepingDeviceID])
            let deleted = db.changesCount
            try db.cachedStatement(sql: "DELETE FROM lazy_members_sent WHERE user_id = ? AND device_id IS NOT ?").execute(arguments: [userID, keepingDeviceID])
            return deleted > 0 ? try Self.insertDeviceListChange(db, users: [userID]) : nil
        }
    }

    public func devices(userID: String) async throws -> [Device] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM devices WHERE user_id = ? ORDER BY device_id"), arguments: [userID])
                .map(Self.device)
        }
    }

    public func device(userID: String, deviceID: String) async throws -> Device? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM devices WHERE user_id = ? AND device_id = ?"), arguments: [userID, deviceID]
            ).map(Self.device)
        }
    }

    public func setDeviceDisplayName(userID: String, deviceID: String, displayName: String?) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?").execute(arguments: [displayName, userID, deviceID])
            return db.changesCount > 0
        }
    }

    public func recordDeviceSeen(userID: String, deviceID: String, ip: String, userAgent: String?, at: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE devices SET last_seen_ip = ?, last_seen_ts = ?, last_seen_user_agent = ? WHERE user_id = ? AND device_id = ?").execute(arguments: [ip, at, userAgent, userID, deviceID])
        }
    }

    public func upgradeGuest(userID: String, passwordHash: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE users SET is_guest = 0, password_hash = ? WHERE user_id = ? AND is_guest AND NOT deactivated").execute(arguments: [passwordHash, userID])
            return db.changesCount > 0
        }
    }

    public func createOpenIDToken(tokenHash: String, userID: String, expiresAt: Int64) async throws {
        try await write { db in
            // Expired tokens go when new ones are made, so the table stays small.
            try db.cachedStatement(sql: "DELETE FROM openid_tokens WHERE expires_ts <= ?").execute(arguments: [expiresAt - 2 * 3_600_000])
            try db.cachedStatement(sql: "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (?, ?, ?)").execute(arguments: [tokenHash, userID, expiresAt])
        }
    }

    public func openIDTokenUser(tokenHash: String, now: Int64) async throws -> String? {
        try await read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT user_id FROM openid_tokens WHERE token_hash = ? AND expires_ts > ?"), arguments: [tokenHash, now])
        }
    }

    public func setPasswordHash(userID: String, hash: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE users SET password_hash = ? WHERE user_id = ?").execute(arguments: [hash, userID])
        }
    }

    public func deactivateAccount(userID: String, erase: Bool) async throws -> Int64? {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE users SET deactivated = 1, password_hash = NULL, profile = '{}', erased = erased OR ? WHERE user_id = ?").execute(arguments: [erase, userID])
            if erase { try db.cachedStatement(sql: "DELETE FROM account_data WHERE user_id = ?").execute(arguments: [userID]) }
            try db.cachedStatement(sql: "DELETE FROM devices WHERE user_id = ?").execute(arguments: [userID])
            try db.cachedStatement(sql: "DELETE FROM lazy_members_sent WHERE user_id = ?").execute(arguments: [userID])
            try db.cachedStatement(sql: "DELETE FROM login_tokens WHERE user_id = ?").execute(arguments: [userID])
            try db.cachedStatement(sql: "DELETE FROM user_threepids WHERE user_id = ?").execute(arguments: [userID])
            try db.cachedStatement(sql: "DELETE FROM pushers WHERE user_id = ?").execute(arguments: [userID])
            try db.cachedStatement(sql: "DELETE FROM cross_signing_keys WHERE user_id = ?").execute(arguments: [userID])
            return try Self.insertDeviceListChange(db, users: [userID])
        }
    }

    public func erasedUsers(among userIDs: Set<String>) async throws -> Set<String> {
        guard !userIDs.isEmpty else { return [] }
        return try await read { db in
            var erased = Set<String>()
            for userID in userIDs where try Bool.fetchOne(db.cachedStatement(sql: "SELECT erased FROM users WHERE user_id = ?"), arguments: [userID]) == true {
                erased.insert(userID)
            }
            return erased
        }
    }

    public func setProfileField(userID: String, key: String, value: JSON?) async throws -> Bool {
        try await write { db in
            guard let text = try String.fetchOne(db.cachedStatement(sql: "SELECT profile FROM users WHERE user_id = ?"), arguments: [userID])
            else { return false }
            var profile = try JSON.stored(text).objectValue ?? [:]
            profile[key] = value
            try db.cachedStatement(sql: "UPDATE users SET profile = ? WHERE user_id = ?").execute(arguments: [JSON.object(profile).encodedString(), userID])
            return true
        }
    }

    public func saveUIASession(_ session: UIASession) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO uia_sessions (session_id, operation, user_id, completed, created_ts, params) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (session_id) DO UPDATE SET completed = excluded.completed, params = excluded.params
                    """).execute(arguments: [
                    session.sessionID, session.operation, session.userID,
                    JSON.array(session.completedStages.map(JSON.string)).encodedString(), session.createdAt,
                    session.params?.encodedString(),
                ])
        }
    }

    public func uiaSession(id: String) async throws -> UIASession? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM uia_sessions WHERE session_id = ?"), arguments: [id]).map { row in
                UIASession(
                    sessionID: row["session_id"], operation: row["operation"], userID: row["user_id"],
                    completedStages: try JSON.stored(row["completed"]).arrayValue?.compactMap(\.stringValue) ?? [],
                    createdAt: row["created_ts"], params: try (row["params"] as String?).map { try JSON.stored($0) })
            }
        }
    }

    public func deleteUIASession(id: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM uia_sessions WHERE session_id = ?").execute(arguments: [id]) }
    }

    public func deleteUIASessions(olderThan: Int64) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM uia_sessions WHERE created_ts < ?").execute(arguments: [olderThan]) }
    }

    private static func insertSession(_ db: Database, _ session: NewSession) throws {
        let device = session.device
        try db.cachedStatement(sql: """
                INSERT INTO devices (user_id, device_id, display_name, last_seen_ip, last_seen_ts, created_ts)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (user_id, device_id) DO UPDATE SET
                    display_name = COALESCE(excluded.display_name, devices.display_name),
                    last_seen_ip = excluded.last_seen_ip, last_seen_ts = excluded.last_seen_ts
                """).execute(arguments: [device.userID, device.deviceID, device.displayName, session.ip, session.createdAt, session.createdAt])
        guard let tokenHash = session.tokenHash else { return }
        try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?").execute(arguments: [device.userID, device.deviceID])
        try db.cachedStatement(sql: "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?").execute(arguments: [device.userID, device.deviceID])
        try db.cachedStatement(sql: """
                INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                tokenHash, device.userID, device.deviceID, session.createdAt, session.accessExpiresAt, session.refreshTokenHash,
            ])
        if let refreshHash = session.refreshTokenHash {
            try db.cachedStatement(sql: """
                    INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, oauth_client_id, scope) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    refreshHash, device.userID, device.deviceID, session.createdAt, session.refreshExpiresAt, session.oauthClientID, session.scope,
                ])
        }
    }

    static func account(_ row: Row) throws -> Account {
        var account = try Account(
            userID: row["user_id"], passwordHash: row["password_hash"], isAdmin: row["is_admin"], isGuest: row["is_guest"],
            isDeactivated: row["deactivated"], createdAt: row["created_ts"],
            profile: try JSON.stored(row["profile"]).objectValue ?? [:])
        account.isSuspended = row["suspended"] ?? false
        account.isLocked = row["locked"] ?? false
        account.isShadowBanned = row["shadow_banned"] ?? false
        return account
    }

    private static func device(_ row: Row) -> Device {
        Device(
            userID: row["user_id"], deviceID: row["device_id"], displayName: row["display_name"],
            lastSeenIP: row["last_seen_ip"], lastSeenAt: row["last_seen_ts"], lastSeenUserAgent: row["last_seen_user_agent"])
    }
}
