import GRDB

extension SQLiteStorage {
    public func registrationTokens() async throws -> [RegistrationToken] {
        try await read { db in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM registration_tokens ORDER BY token")).map(Self.registrationToken) }
    }

    public func registrationToken(_ token: String) async throws -> RegistrationToken? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM registration_tokens WHERE token = ?"), arguments: [token]).map(Self.registrationToken)
        }
    }

    public func createRegistrationToken(_ token: RegistrationToken) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").execute(arguments: [token.token, token.usesAllowed, token.expiryTime])
            return db.changesCount > 0
        }
    }

    public func updateRegistrationToken(_ token: RegistrationToken) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE registration_tokens SET uses_allowed = ?, expiry_time = ? WHERE token = ?").execute(arguments: [token.usesAllowed, token.expiryTime, token.token])
            return db.changesCount > 0
        }
    }

    public func deleteRegistrationToken(_ token: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM registration_tokens WHERE token = ?").execute(arguments: [token])
            return db.changesCount > 0
        }
    }

    public func useRegistrationToken(_ token: String, now: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: """
                    UPDATE registration_tokens SET completed = completed + 1
                    WHERE token = ? AND (uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > ?)
                    """).execute(arguments: [token, now])
            return db.changesCount > 0
        }
    }

    static func registrationToken(_ row: Row) -> RegistrationToken {
        RegistrationToken(
            token: row["token"], usesAllowed: row["uses_allowed"], pending: row["pending"], completed: row["completed"],
            expiryTime: row["expiry_time"])
    }
}
