import GRDB
import MatrixModel

extension SQLiteStorage {
    public func refreshSession(presentedHash: String, clientID: String?, replacement: RefreshedTokens, now: Int64) async throws -> RefreshOutcome {
        try await write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT user_id, device_id, expires_ts, replaces_hash, replaced_by_hash, revoked_ts, oauth_client_id, scope
                    FROM refresh_tokens WHERE token_hash = ?
                    """),
                arguments: [presentedHash]),
                (row["oauth_client_id"] as String?) == clientID
            else { return .unknown }
            let scope: String? = row["scope"]
            let userID: String = row["user_id"]
            let deviceID: String = row["device_id"]
            if (row["revoked_ts"] as Int64?) != nil {
                try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?").execute(arguments: [userID, deviceID])
                try db.cachedStatement(sql: "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?").execute(arguments: [userID, deviceID])
                return .reused(userID: userID, deviceID: deviceID)
            }
            if let expires: Int64 = row["expires_ts"], expires <= now { return .expired(userID: userID, deviceID: deviceID) }
            // Using this token proves the client holds it: the one it replaced goes now.
            if let replaced: String = row["replaces_hash"] { try Self.revokeRefreshToken(db, replaced, now: now) }
            // A retry: the pair handed out last time was never used, and is dropped.
            if let earlier: String = row["replaced_by_hash"] {
                try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE refresh_token_hash = ?").execute(arguments: [earlier])
                try db.cachedStatement(sql: "DELETE FROM refresh_tokens WHERE token_hash = ?").execute(arguments: [earlier])
            }
            try db.cachedStatement(sql: """
                    INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, replaces_hash, oauth_client_id, scope)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    replacement.refreshTokenHash, userID, deviceID, now, replacement.refreshExpiresAt, presentedHash, clientID, scope,
                ])
            try db.cachedStatement(sql: """
                    INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, confirms_refresh)
                    VALUES (?, ?, ?, ?, ?, ?, 1)
                    """).execute(arguments: [replacement.accessTokenHash, userID, deviceID, now, replacement.accessExpiresAt, replacement.refreshTokenHash])
            try db.cachedStatement(sql: "UPDATE refresh_tokens SET replaced_by_hash = ?, replaces_hash = NULL WHERE token_hash = ?")
                .execute(arguments: [replacement.refreshTokenHash, presentedHash])
            return .refreshed(userID: userID, deviceID: deviceID, scope: scope)
        }
    }

    public func confirmRefresh(refreshTokenHash: String, now: Int64) async throws {
        try await write { db in
            if let replaced = try String.fetchOne(
                db.cachedStatement(sql: "SELECT replaces_hash FROM refresh_tokens WHERE token_hash = ?"), arguments: [refreshTokenHash])
            {
                try Self.revokeRefreshToken(db, replaced, now: now)
            }
            try db.cachedStatement(sql: "UPDATE refresh_tokens SET replaces_hash = NULL WHERE token_hash = ?").execute(arguments: [refreshTokenHash])
            try db.cachedStatement(sql: "UPDATE access_tokens SET confirms_refresh = 0 WHERE refresh_token_hash = ?").execute(arguments: [refreshTokenHash])
        }
    }

    /// A replaced refresh token is kept, marked, so that its reuse is recognised; the access
    /// token issued with it goes.
    private static func revokeRefreshToken(_ db: Database, _ hash: String, now: Int64) throws {
        try db.cachedStatement(sql: "UPDATE refresh_tokens SET revoked_ts = ? WHERE token_hash = ? AND revoked_ts IS NULL").execute(arguments: [now, hash])
        try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE refresh_token_hash = ?").execute(arguments: [hash])
    }

    public func createLoginToken(tokenHash: String, userID: String, createdAt: Int64, expiresAt: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO login_tokens (token_hash, user_id, created_ts, expires_ts) VALUES (?, ?, ?, ?)")
                .execute(arguments: [tokenHash, userID, createdAt, expiresAt])
        }
    }

    public func consumeLoginToken(tokenHash: String, now: Int64) async throws -> String? {
        try await write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "DELETE FROM login_tokens WHERE token_hash = ? RETURNING user_id, expires_ts"), arguments: [tokenHash])
            else { return nil }
            let expires: Int64 = row["expires_ts"]
            return expires > now ? row["user_id"] : nil
        }
    }

    public func deleteExpiredSessionTokens(now: Int64, revokedBefore: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM login_tokens WHERE expires_ts <= ?").execute(arguments: [now])
            try db.cachedStatement(sql: "DELETE FROM refresh_tokens WHERE revoked_ts < ?").execute(arguments: [revokedBefore])
        }
    }
}
