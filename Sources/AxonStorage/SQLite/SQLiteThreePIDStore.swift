import GRDB
import MatrixModel

extension SQLiteStorage {
    static func threePIDValidation(_ row: Row) -> ThreePIDValidation {
        ThreePIDValidation(
            sid: row["sid"], clientSecret: row["client_secret"], medium: row["medium"], address: row["address"], tokenHash: row["token_hash"],
            purpose: row["purpose"], sendAttempt: row["send_attempt"], nextLink: row["next_link"], createdAt: row["created_ts"],
            expiresAt: row["expires_ts"], validatedAt: row["validated_ts"])
    }

    public func threePIDValidation(clientSecret: String, medium: String, address: String, purpose: String) async throws -> ThreePIDValidation? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT * FROM threepid_validations WHERE client_secret = ? AND medium = ? AND address = ? AND purpose = ?
                    ORDER BY created_ts DESC LIMIT 1
                    """), arguments: [clientSecret, medium, address, purpose]
            ).map(Self.threePIDValidation)
        }
    }

    public func threePIDValidation(sid: String) async throws -> ThreePIDValidation? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM threepid_validations WHERE sid = ?"), arguments: [sid]).map(Self.threePIDValidation)
        }
    }

    public func saveThreePIDValidation(_ validation: ThreePIDValidation) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO threepid_validations (sid, client_secret, medium, address, token_hash, purpose, send_attempt, next_link,
                      created_ts, expires_ts, validated_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    validation.sid, validation.clientSecret, validation.medium, validation.address, validation.tokenHash, validation.purpose,
                    validation.sendAttempt, validation.nextLink, validation.createdAt, validation.expiresAt, validation.validatedAt,
                ])
        }
    }

    public func confirmThreePIDValidation(sid: String, clientSecret: String, tokenHash: String, now: Int64) async throws -> ThreePIDValidation? {
        try await write { db in
            try db.cachedStatement(sql: """
                    UPDATE threepid_validations SET validated_ts = COALESCE(validated_ts, ?)
                    WHERE sid = ? AND client_secret = ? AND token_hash = ? AND expires_ts > ?
                    """).execute(arguments: [now, sid, clientSecret, tokenHash, now])
            guard db.changesCount > 0 else { return nil }
            return try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM threepid_validations WHERE sid = ?"), arguments: [sid])
                .map(Self.threePIDValidation)
        }
    }

    public func deleteThreePIDValidations(expiredBefore: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM threepid_validations WHERE expires_ts < ?").execute(arguments: [expiredBefore])
        }
    }

    public func bindThreePID(userID: String, _ threePID: UserThreePID) async throws {
        try await write { db in
            if let owner = try String.fetchOne(
                db.cachedStatement(sql: "SELECT user_id FROM user_threepids WHERE medium = ? AND address = ?"), arguments: [threePID.medium, threePID.address])
            {
                guard owner == userID else { throw StorageError.conflict("third-party identifier in use") }
                return
            }
            try db.cachedStatement(sql: "INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [threePID.medium, threePID.address, userID, threePID.validatedAt, threePID.addedAt])
        }
    }

    public func threePIDs(userID: String) async throws -> [UserThreePID] {
        try await read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM user_threepids WHERE user_id = ? ORDER BY added_ts, medium, address"), arguments: [userID]
            ).map { UserThreePID(medium: $0["medium"], address: $0["address"], validatedAt: $0["validated_ts"], addedAt: $0["added_ts"]) }
        }
    }

    public func threePIDUser(medium: String, address: String) async throws -> String? {
        try await read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT user_id FROM user_threepids WHERE medium = ? AND address = ?"), arguments: [medium, address])
        }
    }

    public func unbindThreePID(userID: String, medium: String, address: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM user_threepids WHERE user_id = ? AND medium = ? AND address = ?")
                .execute(arguments: [userID, medium, address])
            return db.changesCount > 0
        }
    }
}
