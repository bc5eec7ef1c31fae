import MatrixModel
import PostgresNIO

extension PostgresStorage {
    static let threePIDValidationColumns =
        "sid, client_secret, medium, address, token_hash, purpose, send_attempt, next_link, created_ts, expires_ts, validated_ts"

    static func threePIDValidation(_ row: PostgresRow) throws -> ThreePIDValidation {
        let (sid, secret, medium, address, token, purpose, attempt, next, created, expires, validated) = try row.decode(
            (String, String, String, String, String, String, Int64, String?, Int64, Int64, Int64?).self)
        return ThreePIDValidation(
            sid: sid, clientSecret: secret, medium: medium, address: address, tokenHash: token, purpose: purpose, sendAttempt: attempt,
            nextLink: next, createdAt: created, expiresAt: expires, validatedAt: validated)
    }

    public func threePIDValidation(clientSecret: String, medium: String, address: String, purpose: String) async throws -> ThreePIDValidation? {
        try await query(
            """
            SELECT \(unescaped: Self.threePIDValidationColumns) FROM threepid_validations
            WHERE client_secret = \(clientSecret) AND medium = \(medium) AND address = \(address) AND purpose = \(purpose)
            ORDER BY created_ts DESC LIMIT 1
            """
        ).first.map(Self.threePIDValidation)
    }

    public func threePIDValidation(sid: String) async throws -> ThreePIDValidation? {
        try await query("SELECT \(unescaped: Self.threePIDValidationColumns) FROM threepid_validations WHERE sid = \(sid)").first
            .map(Self.threePIDValidation)
    }

    public func saveThreePIDValidation(_ validation: ThreePIDValidation) async throws {
        try await query(
            """
            INSERT INTO threepid_validations (\(unescaped: Self.threePIDValidationColumns))
            VALUES (\(validation.sid), \(validation.clientSecret), \(validation.medium), \(validation.address), \(validation.tokenHash),
              \(validation.purpose), \(validation.sendAttempt), \(validation.nextLink), \(validation.createdAt), \(validation.expiresAt),
              \(validation.validatedAt))
            ON CONFLICT (sid) DO UPDATE SET token_hash = excluded.token_hash, send_attempt = excluded.send_attempt,
              next_link = excluded.next_link, expires_ts = excluded.expires_ts, validated_ts = excluded.validated_ts
            """)
    }

    public func confirmThreePIDValidation(sid: String, clientSecret: String, tokenHash: String, now: Int64) async throws -> ThreePIDValidation? {
        try await query(
            """
            UPDATE threepid_validations SET validated_ts = COALESCE(validated_ts, \(now))
            WHERE sid = \(sid) AND client_secret = \(clientSecret) AND token_hash = \(tokenHash) AND expires_ts > \(now)
            RETURNING \(unescaped: Self.threePIDValidationColumns)
            """
        ).first.map(Self.threePIDValidation)
    }

    public func deleteThreePIDValidations(expiredBefore: Int64) async throws {
        try await query("DELETE FROM threepid_validations WHERE expires_ts < \(expiredBefore)")
    }

    public func bindThreePID(userID: String, _ threePID: UserThreePID) async throws {
        let inserted = try await query(
            """
            INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts)
            VALUES (\(threePID.medium), \(threePID.address), \(userID), \(threePID.validatedAt), \(threePID.addedAt))
            ON CONFLICT (medium, address) DO NOTHING RETURNING user_id
            """)
        if inserted.isEmpty, try await threePIDUser(medium: threePID.medium, address: threePID.address) != userID {
            throw StorageError.conflict("third-party identifier in use")
        }
    }

    public func threePIDs(userID: String) async throws -> [UserThreePID] {
        try await query(
            "SELECT medium, address, validated_ts, added_ts FROM user_threepids WHERE user_id = \(userID) ORDER BY added_ts, medium, address"
        ).map { row in
            let (medium, address, validated, added) = try row.decode((String, String, Int64, Int64).self)
            return UserThreePID(medium: medium, address: address, validatedAt: validated, addedAt: added)
        }
    }

    public func threePIDUser(medium: String, address: String) async throws -> String? {
        try await query("SELECT user_id FROM user_threepids WHERE medium = \(medium) AND address = \(address)").first.map { try $0.decode(String.self) }
    }

    public func unbindThreePID(userID: String, medium: String, address: String) async throws -> Bool {
        !(try await query(
            "DELETE FROM user_threepids WHERE user_id = \(userID) AND medium = \(medium) AND address = \(address) RETURNING user_id"
        ).isEmpty)
    }
}
