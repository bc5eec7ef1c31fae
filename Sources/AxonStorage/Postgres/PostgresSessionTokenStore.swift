import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func refreshSession(presentedHash: String, clientID: String?, replacement: RefreshedTokens, now: Int64) async throws -> RefreshOutcome {
        let logger = self.logger
        return try await transaction { connection in
            guard let row = try await connection.rows(
                """
                SELECT user_id, device_id, expires_ts, replaces_hash, replaced_by_hash, revoked_ts, oauth_client_id, scope FROM refresh_tokens
                WHERE token_hash = \(presentedHash) FOR UPDATE
                """, logger: logger
            ).first else { return .unknown }
            let (userID, deviceID, expires, replaced, earlier, revoked, tokenClient, scope) = try row.decode(
                (String, String, Int64?, String?, String?, Int64?, String?, String?).self)
            guard tokenClient == clientID else { return .unknown }
            if revoked != nil {
                try await connection.rows("DELETE FROM access_tokens WHERE user_id = \(userID) AND device_id = \(deviceID)", logger: logger)
                try await connection.rows("DELETE FROM refresh_tokens WHERE user_id = \(userID) AND device_id = \(deviceID)", logger: logger)
                return .reused(userID: userID, deviceID: deviceID)
            }
            if let expires, expires <= now { return .expired(userID: userID, deviceID: deviceID) }
            // Using this token proves the client holds it: the one it replaced goes now.
            if let replaced { try await Self.revokeRefreshToken(connection, replaced, now: now, logger: logger) }
            // A retry: the pair handed out last time was never used, and is dropped.
            if let earlier {
                try await connection.rows("DELETE FROM access_tokens WHERE refresh_token_hash = \(earlier)", logger: logger)
                try await connection.rows("DELETE FROM refresh_tokens WHERE token_hash = \(earlier)", logger: logger)
            }
            try await connection.rows(
                """
                INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, replaces_hash, oauth_client_id, scope)
                VALUES (\(replacement.refreshTokenHash), \(userID), \(deviceID), \(now), \(replacement.refreshExpiresAt), \(presentedHash),
                    \(clientID), \(scope))
                """, logger: logger)
            try await connection.rows(
                """
                INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, confirms_refresh)
                VALUES (\(replacement.accessTokenHash), \(userID), \(deviceID), \(now), \(replacement.accessExpiresAt),
                    \(replacement.refreshTokenHash), TRUE)
                """, logger: logger)
            try await connection.rows(
                """
                UPDATE refresh_tokens SET replaced_by_hash = \(replacement.refreshTokenHash), replaces_hash = NULL
                WHERE token_hash = \(presentedHash)
                """, logger: logger)
            return .refreshed(userID: userID, deviceID: deviceID, scope: scope)
        }
    }

    public func confirmRefresh(refreshTokenHash: String, now: Int64) async throws {
        let logger = self.logger
        try await transaction { connection in
            let replaced = try await connection.rows(
                "SELECT replaces_hash FROM refresh_tokens WHERE token_hash = \(refreshTokenHash) FOR UPDATE", logger: logger
            ).first.flatMap { try $0.decode(String?.self) }
            if let replaced { try await Self.revokeRefreshToken(connection, replaced, now: now, logger: logger) }
            try await connection.rows(
                "UPDATE refresh_tokens SET replaces_hash = NULL WHERE token_hash = \(refreshTokenHash)", logger: logger)
            try await connection.rows(
                "UPDATE access_tokens SET confirms_refresh = FALSE WHERE refresh_token_hash = \(refreshTokenHash)", logger: logger)
        }
    }

    /// A replaced refresh token is kept, marked, so that its reuse is recognised; the access
    /// token issued with it goes.
    private static func revokeRefreshToken(_ connection: PostgresConnection, _ hash: String, now: Int64, logger: Logger) async throws {
        try await connection.rows(
            "UPDATE refresh_tokens SET revoked_ts = \(now) WHERE token_hash = \(hash) AND revoked_ts IS NULL", logger: logger)
        try await connection.rows("DELETE FROM access_tokens WHERE refresh_token_hash = \(hash)", logger: logger)
    }

    public func createLoginToken(tokenHash: String, userID: String, createdAt: Int64, expiresAt: Int64) async throws {
        try await query(
            "INSERT INTO login_tokens (token_hash, user_id, created_ts, expires_ts) VALUES (\(tokenHash), \(userID), \(createdAt), \(expiresAt))")
    }

    public func consumeLoginToken(tokenHash: String, now: Int64) async throws -> String? {
        guard let row = try await query("DELETE FROM login_tokens WHERE token_hash = \(tokenHash) RETURNING user_id, expires_ts").first
        else { return nil }
        let (userID, expires) = try row.decode((String, Int64).self)
        return expires > now ? userID : nil
    }

    public func deleteExpiredSessionTokens(now: Int64, revokedBefore: Int64) async throws {
        try await query("DELETE FROM login_tokens WHERE expires_ts <= \(now)")
        try await query("DELETE FROM refresh_tokens WHERE revoked_ts < \(revokedBefore)")
    }
}
