import PostgresNIO

extension PostgresStorage {
    public func registrationTokens() async throws -> [RegistrationToken] {
        try await query("SELECT token, uses_allowed, pending, completed, expiry_time FROM registration_tokens ORDER BY token")
            .map(Self.registrationToken)
    }

    public func registrationToken(_ token: String) async throws -> RegistrationToken? {
        try await query("SELECT token, uses_allowed, pending, completed, expiry_time FROM registration_tokens WHERE token = \(token)")
            .first.map(Self.registrationToken)
    }

    public func createRegistrationToken(_ token: RegistrationToken) async throws -> Bool {
        !(try await query(
            """
            INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES (\(token.token), \(token.usesAllowed), \(token.expiryTime))
            ON CONFLICT DO NOTHING RETURNING token
            """
        ).isEmpty)
    }

    public func updateRegistrationToken(_ token: RegistrationToken) async throws -> Bool {
        !(try await query(
            """
            UPDATE registration_tokens SET uses_allowed = \(token.usesAllowed), expiry_time = \(token.expiryTime)
            WHERE token = \(token.token) RETURNING token
            """
        ).isEmpty)
    }

    public func deleteRegistrationToken(_ token: String) async throws -> Bool {
        !(try await query("DELETE FROM registration_tokens WHERE token = \(token) RETURNING token").isEmpty)
    }

    public func useRegistrationToken(_ token: String, now: Int64) async throws -> Bool {
        !(try await query(
            """
            UPDATE registration_tokens SET completed = completed + 1
            WHERE token = \(token) AND (uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > \(now))
            RETURNING token
            """
        ).isEmpty)
    }

    static func registrationToken(_ row: PostgresRow) throws -> RegistrationToken {
        let (token, uses, pending, completed, expiry) = try row.decode((String, Int64?, Int64, Int64, Int64?).self)
        return RegistrationToken(token: token, usesAllowed: uses, pending: pending, completed: completed, expiryTime: expiry)
    }
}
