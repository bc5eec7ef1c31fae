import GRDB
import MatrixModel

extension SQLiteStorage {
    public func saveSSOAttempt(_ attempt: SSOAttempt) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO sso_attempts (state_hash, provider_id, browser_hash, nonce, code_verifier, purpose, target, created_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    attempt.stateHash, attempt.providerID, attempt.browserHash, attempt.nonce, attempt.codeVerifier, attempt.purpose.rawValue,
                    attempt.target, attempt.createdAt,
                ])
        }
    }

    public func takeSSOAttempt(stateHash: String) async throws -> SSOAttempt? {
        try await write { db in
            try Row.fetchOne(db.cachedStatement(sql: "DELETE FROM sso_attempts WHERE state_hash = ? RETURNING *"), arguments: [stateHash]).map { row in
                SSOAttempt(
                    stateHash: row["state_hash"], providerID: row["provider_id"], browserHash: row["browser_hash"], nonce: row["nonce"],
                    codeVerifier: row["code_verifier"], purpose: SSOAttempt.Purpose(rawValue: row["purpose"]) ?? .web, target: row["target"],
                    createdAt: row["created_ts"])
            }
        }
    }

    public func deleteSSOAttempts(olderThan: Int64) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM sso_attempts WHERE created_ts < ?").execute(arguments: [olderThan]) }
    }

    public func externalUser(providerID: String, subject: String) async throws -> String? {
        try await read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT user_id FROM user_external_ids WHERE provider_id = ? AND subject = ?"), arguments: [providerID, subject])
        }
    }

    public func linkExternalID(providerID: String, subject: String, userID: String, now: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO user_external_ids (provider_id, subject, user_id, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """).execute(arguments: [providerID, subject, userID, now])
            return db.changesCount > 0
        }
    }

    public func externalIDs(userID: String) async throws -> [(providerID: String, subject: String)] {
        try await read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT provider_id, subject FROM user_external_ids WHERE user_id = ? ORDER BY provider_id, subject"),
                arguments: [userID]
            ).map { ($0["provider_id"], $0["subject"]) }
        }
    }

    public func unlinkExternalIDs(userID: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM user_external_ids WHERE user_id = ?").execute(arguments: [userID]) }
    }
}
