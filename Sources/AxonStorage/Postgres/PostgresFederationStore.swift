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
}
