import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func storeServerKeys(_ keys: ServerKeys) async throws {
        let logger = self.logger
        let rows = keys.storedKeys
        try await transaction { connection in
            for key in rows {
                try await connection.rows(
                    """
                    INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, response)
                    VALUES (\(key.serverName), \(key.keyID), \(UnpaddedBase64.encode(key.publicKey)), \(key.validUntil), \(key.expiredAt),
                        \(JSON.object(key.response).encodedString()))
                    ON CONFLICT (server_name, key_id) DO UPDATE SET
                        valid_until_ts = GREATEST(server_keys.valid_until_ts, excluded.valid_until_ts), expired_ts = excluded.expired_ts,
                        response = CASE WHEN excluded.valid_until_ts >= server_keys.valid_until_ts THEN excluded.response
                            ELSE server_keys.response END
                    """, logger: logger)
            }
        }
    }

    public func serverKeys(serverName: String) async throws -> [StoredServerKey] {
        try await query(
            "SELECT server_name, key_id, public_key, valid_until_ts, expired_ts, response FROM server_keys WHERE server_name = \(serverName) ORDER BY key_id"
        ).compactMap { row in
            let (server, keyID, publicKey, validUntil, expired, response) = try row.decode((String, String, String, Int64, Int64?, String).self)
            guard let key = UnpaddedBase64.decode(publicKey), let object = try JSON.stored(response).objectValue else { return nil }
            return StoredServerKey(serverName: server, keyID: keyID, publicKey: key, validUntil: validUntil, expiredAt: expired, response: object)
        }
    }

    public func inboundTransactionResponse(origin: String, txnID: String) async throws -> JSON? {
        try await query("SELECT response FROM federation_inbound_transactions WHERE origin = \(origin) AND txn_id = \(txnID)")
            .first.map { try JSON.stored(try $0.decode(String.self)) }
    }

    public func saveInboundTransaction(origin: String, txnID: String, response: JSON, now: Int64) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.rows("DELETE FROM federation_inbound_transactions WHERE received_ts < \(now - 86_400_000)", logger: logger)
            try await connection.rows(
                """
                INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts)
                VALUES (\(origin), \(txnID), \(response.encodedString()), \(now)) ON CONFLICT (origin, txn_id) DO NOTHING
                """, logger: logger)
        }
    }

    public func enqueueOutbound(destinations: [String], eventID: String?, edu: JSON?, now: Int64) async throws {
        guard !destinations.isEmpty else { return }
        let logger = self.logger
        let text = edu?.encodedString()
        try await transaction { connection in
            try await connection.rows(
                """
                INSERT INTO federation_outbox (destination, event_id, edu, created_ts)
                SELECT d, \(eventID), \(text), \(now) FROM unnest(\(destinations)::TEXT[]) AS d
                """, logger: logger)
            try await connection.rows(
                "INSERT INTO federation_destinations (destination) SELECT d FROM unnest(\(destinations)::TEXT[]) AS d ON CONFLICT DO NOTHING",
                logger: logger)
        }
    }

    public func pendingDestinations(now: Int64) async throws -> [String] {
        try await query(
            """
            SELECT d.destination FROM federation_destinations d WHERE d.retry_at <= \(now)
            AND EXISTS (SELECT 1 FROM federation_outbox o WHERE o.destination = d.destination)
            """
        ).map { try $0.decode(String.self) }
    }

    public func outboundBatch(destination: String, pdus: Int, edus: Int) async throws -> OutboundBatch {
        let pduRows = try await query(
            "SELECT seq, event_id FROM federation_outbox WHERE destination = \(destination) AND event_id IS NOT NULL ORDER BY seq LIMIT \(pdus)"
        ).map { try $0.decode((Int64, String).self) }
        let eduRows = try await query(
            "SELECT seq, edu FROM federation_outbox WHERE destination = \(destination) AND edu IS NOT NULL ORDER BY seq LIMIT \(edus)"
        ).map { row -> (Int64, JSON) in
            let (seq, text) = try row.decode((Int64, String).self)
            return (seq, try JSON.stored(text))
        }
        let total = try await query("SELECT COUNT(*) FROM federation_outbox WHERE destination = \(destination)")[0].decode(Int64.self)
        return OutboundBatch(pdus: pduRows.map { ($0.0, $0.1) }, edus: eduRows.map { ($0.0, $0.1) }, total: Int(total))
    }

    public func completeOutbound(destination: String, sequences: [Int64]) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.rows(
                "DELETE FROM federation_outbox WHERE destination = \(destination) AND seq = ANY(\(sequences))", logger: logger)
            try await connection.rows(
                """
                UPDATE federation_destinations SET failures = 0, retry_at = 0, failure_ts = NULL,
                  last_success_seq = greatest(coalesce(last_success_seq, 0), \(sequences.max() ?? 0)) WHERE destination = \(destination)
                """, logger: logger)
        }
    }

    public func failOutbound(destination: String, retryAt: Int64, now: Int64) async throws -> Int {
        let rows = try await query(
            """
            UPDATE federation_destinations SET failures = failures + 1, retry_at = \(retryAt), last_failure_ts = \(now),
              failure_ts = coalesce(failure_ts, \(now)) WHERE destination = \(destination)
            RETURNING failures
            """)
        return try rows.first.map { Int(try $0.decode(Int32.self)) } ?? 0
    }

    public func trimOutbound(destination: String, keeping: Int) async throws {
        try await query(
            """
            DELETE FROM federation_outbox WHERE destination = \(destination) AND event_id IS NOT NULL AND seq NOT IN (
                SELECT seq FROM federation_outbox WHERE destination = \(destination) AND event_id IS NOT NULL ORDER BY seq DESC LIMIT \(keeping))
            """)
    }

    public func leaseDestination(_ destination: String, owner: String, now: Int64, until: Int64) async throws -> Bool {
        let rows = try await query(
            """
            UPDATE federation_destinations SET lease_owner = \(owner), lease_until = \(until)
            WHERE destination = \(destination) AND (lease_owner IS NULL OR lease_owner = \(owner) OR lease_until < \(now))
            RETURNING destination
            """)
        return !rows.isEmpty
    }

    public func releaseDestination(_ destination: String, owner: String) async throws {
        _ = try await query(
            "UPDATE federation_destinations SET lease_owner = NULL, lease_until = 0 WHERE destination = \(destination) AND lease_owner = \(owner)")
    }
}
