import GRDB
import MatrixModel

extension SQLiteStorage {
    public func saveOAuthClient(_ client: OAuthClient) async throws {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO oauth_clients (client_id, metadata, created_ts) VALUES (?, ?, ?)")
                .execute(arguments: [client.clientID, client.metadata.encodedString(), client.createdAt])
        }
    }

    public func oauthClient(id: String) async throws -> OAuthClient? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT metadata, created_ts FROM oauth_clients WHERE client_id = ?"), arguments: [id])
                .map { row in OAuthClient(clientID: id, metadata: try JSON.stored(row["metadata"]), createdAt: row["created_ts"]) }
        }
    }

    public func saveAuthorizationRequest(_ request: OAuthAuthorizationRequest) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO oauth_authorization_requests (id, client_id, redirect_uri, scope, device_id, state, response_mode, code_challenge,
                      wants_registration, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    request.id, request.clientID, request.redirectURI, request.scope, request.deviceID, request.state, request.responseMode,
                    request.codeChallenge, request.wantsRegistration, request.createdAt,
                ])
        }
    }

    public func authorizationRequest(id: String) async throws -> OAuthAuthorizationRequest? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth_authorization_requests WHERE id = ?"), arguments: [id]).map { row in
                OAuthAuthorizationRequest(
                    id: row["id"], clientID: row["client_id"], redirectURI: row["redirect_uri"], scope: row["scope"], deviceID: row["device_id"],
                    state: row["state"], responseMode: row["response_mode"], codeChallenge: row["code_challenge"],
                    wantsRegistration: row["wants_registration"], createdAt: row["created_ts"])
            }
        }
    }

    public func deleteAuthorizationRequest(id: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM oauth_authorization_requests WHERE id = ?").execute(arguments: [id]) }
    }

    public func saveAuthorizationCode(_ code: OAuthAuthorizationCode, createdAt: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO oauth_authorization_codes (code_hash, client_id, user_id, device_id, scope, redirect_uri, code_challenge, created_ts,
                      expires_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    code.codeHash, code.clientID, code.userID, code.deviceID, code.scope, code.redirectURI, code.codeChallenge, createdAt,
                    code.expiresAt,
                ])
        }
    }

    public func redeemAuthorizationCode(codeHash: String, now: Int64) async throws -> CodeRedemption {
        try await write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM oauth_authorization_codes WHERE code_hash = ?"), arguments: [codeHash])
            else { return .unknown }
            if (row["used_ts"] as Int64?) != nil { return .reused(userID: row["user_id"], deviceID: row["device_id"]) }
            let expires: Int64 = row["expires_ts"]
            guard expires > now else { return .unknown }
            try db.cachedStatement(sql: "UPDATE oauth_authorization_codes SET used_ts = ? WHERE code_hash = ?").execute(arguments: [now, codeHash])
            return .redeemed(
                OAuthAuthorizationCode(
                    codeHash: codeHash, clientID: row["client_id"], userID: row["user_id"], deviceID: row["device_id"], scope: row["scope"],
                    redirectURI: row["redirect_uri"], codeChallenge: row["code_challenge"], expiresAt: expires))
        }
    }

    public func saveDeviceAuthorization(_ authorization: OAuthDeviceAuthorization) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO oauth_device_authorizations (device_code_hash, user_code, client_id, scope, device_id, status, created_ts, expires_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    authorization.deviceCodeHash, authorization.userCode, authorization.clientID, authorization.scope, authorization.deviceID,
                    authorization.status.rawValue, authorization.createdAt, authorization.expiresAt,
                ])
        }
    }

    public func deviceAuthorization(userCode: String) async throws -> OAuthDeviceAuthorization? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth_device_authorizations WHERE user_code = ?"), arguments: [userCode])
                .map(Self.deviceAuthorization)
        }
    }

    public func decideDeviceAuthorization(userCode: String, userID: String, approved: Bool, now: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: """
                    UPDATE oauth_device_authorizations SET status = ?, user_id = ? WHERE user_code = ? AND status = 'pending' AND expires_ts > ?
                    """).execute(arguments: [approved ? "approved" : "denied", userID, userCode, now])
            return db.changesCount > 0
        }
    }

    public func pollDeviceAuthorization(deviceCodeHash: String, now: Int64) async throws -> OAuthDeviceAuthorization? {
        try await write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM oauth_device_authorizations WHERE device_code_hash = ?"), arguments: [deviceCodeHash])
            else { return nil }
            let found = Self.deviceAuthorization(row)
            let next = found.status == .approved ? "exchanged" : found.status.rawValue
            try db.cachedStatement(sql: "UPDATE oauth_device_authorizations SET last_poll_ts = ?, status = ? WHERE device_code_hash = ?")
                .execute(arguments: [now, next, deviceCodeHash])
            return found
        }
    }

    private static func deviceAuthorization(_ row: Row) -> OAuthDeviceAuthorization {
        OAuthDeviceAuthorization(
            deviceCodeHash: row["device_code_hash"], userCode: row["user_code"], clientID: row["client_id"], scope: row["scope"],
            deviceID: row["device_id"], status: OAuthDeviceAuthorization.Status(rawValue: row["status"]) ?? .denied, userID: row["user_id"],
            createdAt: row["created_ts"], expiresAt: row["expires_ts"], lastPolledAt: row["last_poll_ts"])
    }

    public func createWebSession(idHash: String, userID: String, now: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO web_sessions (id_hash, user_id, created_ts, last_active_ts) VALUES (?, ?, ?, ?)")
                .execute(arguments: [idHash, userID, now, now])
        }
    }

    public func webSession(idHash: String, notBefore: Int64, now: Int64) async throws -> WebSession? {
        try await write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT s.user_id, s.created_ts FROM web_sessions s JOIN users u ON u.user_id = s.user_id
                    WHERE s.id_hash = ? AND s.last_active_ts >= ? AND u.deactivated = 0
                    """), arguments: [idHash, notBefore])
            else { return nil }
            try db.cachedStatement(sql: "UPDATE web_sessions SET last_active_ts = ? WHERE id_hash = ?").execute(arguments: [now, idHash])
            return WebSession(userID: row["user_id"], createdAt: row["created_ts"], lastActiveAt: now)
        }
    }

    public func deleteWebSession(idHash: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM web_sessions WHERE id_hash = ?").execute(arguments: [idHash]) }
    }

    public func tokenDevice(tokenHash: String) async throws -> (userID: String, deviceID: String, clientID: String?)? {
        try await read { db in
            if let row = try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT t.user_id, t.device_id, r.oauth_client_id FROM access_tokens t
                    LEFT JOIN refresh_tokens r ON r.token_hash = t.refresh_token_hash WHERE t.token_hash = ?
                    """), arguments: [tokenHash])
            {
                return (row["user_id"], row["device_id"], row["oauth_client_id"])
            }
            return try Row.fetchOne(
                db.cachedStatement(sql: "SELECT user_id, device_id, oauth_client_id FROM refresh_tokens WHERE token_hash = ?"), arguments: [tokenHash]
            ).map { ($0["user_id"], $0["device_id"], $0["oauth_client_id"]) }
        }
    }

    public func oauthClientsByDevice(userID: String) async throws -> [String: String] {
        try await read { db in
            var clients: [String: String] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT device_id, oauth_client_id FROM refresh_tokens WHERE user_id = ? AND oauth_client_id IS NOT NULL"),
                arguments: [userID])
            {
                clients[row["device_id"]] = row["oauth_client_id"]
            }
            return clients
        }
    }

    public func deleteExpiredOAuthState(requestsBefore: Int64, sessionsIdleBefore: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM oauth_authorization_requests WHERE created_ts < ?").execute(arguments: [requestsBefore])
            try db.cachedStatement(sql: "DELETE FROM oauth_authorization_codes WHERE expires_ts < ?").execute(arguments: [requestsBefore])
            try db.cachedStatement(sql: "DELETE FROM oauth_device_authorizations WHERE expires_ts < ?").execute(arguments: [requestsBefore])
            try db.cachedStatement(sql: "DELETE FROM web_sessions WHERE last_active_ts < ?").execute(arguments: [sessionsIdleBefore])
        }
    }
}
