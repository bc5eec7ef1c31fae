import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func saveOAuthClient(_ client: OAuthClient) async throws {
        try await query(
            "INSERT INTO oauth_clients (client_id, metadata, created_ts) VALUES (\(client.clientID), \(client.metadata.encodedString()), \(client.createdAt))")
    }

    public func oauthClient(id: String) async throws -> OAuthClient? {
        try await query("SELECT metadata, created_ts FROM oauth_clients WHERE client_id = \(id)").first.map { row in
            let (metadata, created) = try row.decode((String, Int64).self)
            return OAuthClient(clientID: id, metadata: try JSON.stored(metadata), createdAt: created)
        }
    }

    public func saveAuthorizationRequest(_ request: OAuthAuthorizationRequest) async throws {
        try await query(
            """
            INSERT INTO oauth_authorization_requests (id, client_id, redirect_uri, scope, device_id, state, response_mode, code_challenge,
              wants_registration, created_ts)
            VALUES (\(request.id), \(request.clientID), \(request.redirectURI), \(request.scope), \(request.deviceID), \(request.state),
              \(request.responseMode), \(request.codeChallenge), \(request.wantsRegistration), \(request.createdAt))
            """)
    }

    public func authorizationRequest(id: String) async throws -> OAuthAuthorizationRequest? {
        try await query(
            """
            SELECT client_id, redirect_uri, scope, device_id, state, response_mode, code_challenge, wants_registration, created_ts
            FROM oauth_authorization_requests WHERE id = \(id)
            """
        ).first.map { row in
            let (client, redirect, scope, device, state, mode, challenge, registration, created) = try row.decode(
                (String, String, String, String, String?, String, String, Bool, Int64).self)
            return OAuthAuthorizationRequest(
                id: id, clientID: client, redirectURI: redirect, scope: scope, deviceID: device, state: state, responseMode: mode,
                codeChallenge: challenge, wantsRegistration: registration, createdAt: created)
        }
    }

    public func deleteAuthorizationRequest(id: String) async throws {
        try await query("DELETE FROM oauth_authorization_requests WHERE id = \(id)")
    }

    public func saveAuthorizationCode(_ code: OAuthAuthorizationCode, createdAt: Int64) async throws {
        try await query(
            """
            INSERT INTO oauth_authorization_codes (code_hash, client_id, user_id, device_id, scope, redirect_uri, code_challenge, created_ts,
              expires_ts)
            VALUES (\(code.codeHash), \(code.clientID), \(code.userID), \(code.deviceID), \(code.scope), \(code.redirectURI),
              \(code.codeChallenge), \(createdAt), \(code.expiresAt))
            """)
    }

    public func redeemAuthorizationCode(codeHash: String, now: Int64) async throws -> CodeRedemption {
        let logger = self.logger
        return try await transaction { connection in
            guard let row = try await connection.rows(
                """
                SELECT client_id, user_id, device_id, scope, redirect_uri, code_challenge, expires_ts, used_ts
                FROM oauth_authorization_codes WHERE code_hash = \(codeHash) FOR UPDATE
                """, logger: logger
            ).first else { return .unknown }
            let (client, user, device, scope, redirect, challenge, expires, used) = try row.decode(
                (String, String, String, String, String, String, Int64, Int64?).self)
            if used != nil { return .reused(userID: user, deviceID: device) }
            guard expires > now else { return .unknown }
            try await connection.rows("UPDATE oauth_authorization_codes SET used_ts = \(now) WHERE code_hash = \(codeHash)", logger: logger)
            return .redeemed(
                OAuthAuthorizationCode(
                    codeHash: codeHash, clientID: client, userID: user, deviceID: device, scope: scope, redirectURI: redirect,
                    codeChallenge: challenge, expiresAt: expires))
        }
    }

    static let deviceAuthorizationColumns =
        "device_code_hash, user_code, client_id, scope, device_id, status, user_id, created_ts, expires_ts, last_poll_ts"

    static func deviceAuthorization(_ row: PostgresRow) throws -> OAuthDeviceAuthorization {
        let (hash, userCode, client, scope, device, status, user, created, expires, polled) = try row.decode(
            (String, String, String, String, String, String, String?, Int64, Int64, Int64?).self)
        return OAuthDeviceAuthorization(
            deviceCodeHash: hash, userCode: userCode, clientID: client, scope: scope, deviceID: device,
            status: OAuthDeviceAuthorization.Status(rawValue: status) ?? .denied, userID: user, createdAt: created, expiresAt: expires,
            lastPolledAt: polled)
    }

    public func saveDeviceAuthorization(_ authorization: OAuthDeviceAuthorization) async throws {
        try await query(
            """
            INSERT INTO oauth_device_authorizations (device_code_hash, user_code, client_id, scope, device_id, status, created_ts, expires_ts)
            VALUES (\(authorization.deviceCodeHash), \(authorization.userCode), \(authorization.clientID), \(authorization.scope),
              \(authorization.deviceID), \(authorization.status.rawValue), \(authorization.createdAt), \(authorization.expiresAt))
            """)
    }

    public func deviceAuthorization(userCode: String) async throws -> OAuthDeviceAuthorization? {
        try await query(
            "SELECT \(unescaped: Self.deviceAuthorizationColumns) FROM oauth_device_authorizations WHERE user_code = \(userCode)"
        ).first.map(Self.deviceAuthorization)
    }

    public func decideDeviceAuthorization(userCode: String, userID: String, approved: Bool, now: Int64) async throws -> Bool {
        !(try await query(
            """
            UPDATE oauth_device_authorizations SET status = \(approved ? "approved" : "denied"), user_id = \(userID)
            WHERE user_code = \(userCode) AND status = 'pending' AND expires_ts > \(now) RETURNING user_code
            """
        ).isEmpty)
    }

    public func pollDeviceAuthorization(deviceCodeHash: String, now: Int64) async throws -> OAuthDeviceAuthorization? {
        let logger = self.logger
        return try await transaction { connection in
            guard let row = try await connection.rows(
                """
                SELECT \(unescaped: Self.deviceAuthorizationColumns) FROM oauth_device_authorizations
                WHERE device_code_hash = \(deviceCodeHash) FOR UPDATE
                """, logger: logger
            ).first else { return nil }
            let found = try Self.deviceAuthorization(row)
            let next = found.status == .approved ? "exchanged" : found.status.rawValue
            try await connection.rows(
                "UPDATE oauth_device_authorizations SET last_poll_ts = \(now), status = \(next) WHERE device_code_hash = \(deviceCodeHash)",
                logger: logger)
            return found
        }
    }

    public func createWebSession(idHash: String, userID: String, now: Int64) async throws {
        try await query("INSERT INTO web_sessions (id_hash, user_id, created_ts, last_active_ts) VALUES (\(idHash), \(userID), \(now), \(now))")
    }

    public func webSession(idHash: String, notBefore: Int64, now: Int64) async throws -> WebSession? {
        try await query(
            """
            UPDATE web_sessions s SET last_active_ts = \(now) FROM users u
            WHERE s.id_hash = \(idHash) AND s.last_active_ts >= \(notBefore) AND u.user_id = s.user_id AND NOT u.deactivated
            RETURNING s.user_id, s.created_ts
            """
        ).first.map { row in
            let (user, created) = try row.decode((String, Int64).self)
            return WebSession(userID: user, createdAt: created, lastActiveAt: now)
        }
    }

    public func deleteWebSession(idHash: String) async throws {
        try await query("DELETE FROM web_sessions WHERE id_hash = \(idHash)")
    }

    public func tokenDevice(tokenHash: String) async throws -> (userID: String, deviceID: String, clientID: String?)? {
        if let row = try await query(
            """
            SELECT t.user_id, t.device_id, r.oauth_client_id FROM access_tokens t
            LEFT JOIN refresh_tokens r ON r.token_hash = t.refresh_token_hash WHERE t.token_hash = \(tokenHash)
            """
        ).first {
            let (user, device, client) = try row.decode((String, String, String?).self)
            return (user, device, client)
        }
        return try await query("SELECT user_id, device_id, oauth_client_id FROM refresh_tokens WHERE token_hash = \(tokenHash)").first.map { row in
            let (user, device, client) = try row.decode((String, String, String?).self)
            return (user, device, client)
        }
    }

    public func oauthClientsByDevice(userID: String) async throws -> [String: String] {
        var clients: [String: String] = [:]
        for row in try await query(
            "SELECT device_id, oauth_client_id FROM refresh_tokens WHERE user_id = \(userID) AND oauth_client_id IS NOT NULL")
        {
            let (device, client) = try row.decode((String, String).self)
            clients[device] = client
        }
        return clients
    }

    public func deleteExpiredOAuthState(requestsBefore: Int64, sessionsIdleBefore: Int64) async throws {
        try await query("DELETE FROM oauth_authorization_requests WHERE created_ts < \(requestsBefore)")
        try await query("DELETE FROM oauth_authorization_codes WHERE expires_ts < \(requestsBefore)")
        try await query("DELETE FROM oauth_device_authorizations WHERE expires_ts < \(requestsBefore)")
        try await query("DELETE FROM web_sessions WHERE last_active_ts < \(sessionsIdleBefore)")
    }
}
