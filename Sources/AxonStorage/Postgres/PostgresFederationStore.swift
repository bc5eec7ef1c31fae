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
}
