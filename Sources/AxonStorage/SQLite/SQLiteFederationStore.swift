import GRDB
import MatrixModel

extension SQLiteStorage {
    public func storeServerKeys(_ keys: ServerKeys) async throws {
        let rows = keys.storedKeys
        try await write { db in
            for key in rows {
                try db.execute(
                    sql: """
                        INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, response)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (server_name, key_id) DO UPDATE SET
                            valid_until_ts = MAX(valid_until_ts, excluded.valid_until_ts), expired_ts = excluded.expired_ts,
                            response = CASE WHEN excluded.valid_until_ts >= valid_until_ts THEN excluded.response ELSE response END
                        """,
                    arguments: [
                        key.serverName, key.keyID, UnpaddedBase64.encode(key.publicKey), key.validUntil, key.expiredAt,
                        JSON.object(key.response).encodedString(),
                    ])
            }
        }
    }

    public func serverKeys(serverName: String) async throws -> [StoredServerKey] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM server_keys WHERE server_name = ? ORDER BY key_id", arguments: [serverName]).compactMap { row in
                guard let key = UnpaddedBase64.decode(row["public_key"]), let response = try JSON.stored(row["response"]).objectValue else {
                    return nil
                }
                return StoredServerKey(
                    serverName: row["server_name"], keyID: row["key_id"], publicKey: key, validUntil: row["valid_until_ts"],
                    expiredAt: row["expired_ts"], response: response)
            }
        }
    }

    public func inboundTransactionResponse(origin: String, txnID: String) async throws -> JSON? {
        try await read { db in
            try String.fetchOne(
                db, sql: "SELECT response FROM federation_inbound_transactions WHERE origin = ? AND txn_id = ?", arguments: [origin, txnID]
            ).map { try JSON.stored($0) }
        }
    }

    public func saveInboundTransaction(origin: String, txnID: String, response: JSON, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM federation_inbound_transactions WHERE received_ts < ?", arguments: [now - 86_400_000])
            try db.execute(
                sql: """
                    INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?)
                    ON CONFLICT (origin, txn_id) DO NOTHING
                    """,
                arguments: [origin, txnID, response.encodedString(), now])
        }
    }
}
