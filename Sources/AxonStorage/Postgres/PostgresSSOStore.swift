import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func saveSSOAttempt(_ attempt: SSOAttempt) async throws {
        try await query(
            """
            INSERT INTO sso_attempts (state_hash, provider_id, browser_hash, nonce, code_verifier, purpose, target, created_ts)
            VALUES (\(attempt.stateHash), \(attempt.providerID), \(attempt.browserHash), \(attempt.nonce), \(attempt.codeVerifier),
              \(attempt.purpose.rawValue), \(attempt.target), \(attempt.createdAt))
            """)
    }

    public func takeSSOAttempt(stateHash: String) async throws -> SSOAttempt? {
        try await query(
            """
            DELETE FROM sso_attempts WHERE state_hash = \(stateHash)
            RETURNING provider_id, browser_hash, nonce, code_verifier, purpose, target, created_ts
            """
        ).first.map { row in
            let (provider, browser, nonce, verifier, purpose, target, created) = try row.decode(
                (String, String, String, String, String, String, Int64).self)
            return SSOAttempt(
                stateHash: stateHash, providerID: provider, browserHash: browser, nonce: nonce, codeVerifier: verifier,
                purpose: SSOAttempt.Purpose(rawValue: purpose) ?? .web, target: target, createdAt: created)
        }
    }

    public func deleteSSOAttempts(olderThan: Int64) async throws {
        try await query("DELETE FROM sso_attempts WHERE created_ts < \(olderThan)")
    }

    public func externalUser(providerID: String, subject: String) async throws -> String? {
        try await query("SELECT user_id FROM user_external_ids WHERE provider_id = \(providerID) AND subject = \(subject)").first
            .map { try $0.decode(String.self) }
    }

    public func linkExternalID(providerID: String, subject: String, userID: String, now: Int64) async throws -> Bool {
        !(try await query(
            """
            INSERT INTO user_external_ids (provider_id, subject, user_id, created_ts) VALUES (\(providerID), \(subject), \(userID), \(now))
            ON CONFLICT DO NOTHING RETURNING user_id
            """
        ).isEmpty)
    }

    public func externalIDs(userID: String) async throws -> [(providerID: String, subject: String)] {
        try await query("SELECT provider_id, subject FROM user_external_ids WHERE user_id = \(userID) ORDER BY provider_id, subject").map { row in
            let (provider, subject) = try row.decode((String, String).self)
            return (provider, subject)
        }
    }

    public func unlinkExternalIDs(userID: String) async throws {
        try await query("DELETE FROM user_external_ids WHERE user_id = \(userID)")
    }
}
