import GRDB
import MatrixModel

extension SQLiteStorage {
    public func storeServerKeys(_ keys: ServerKeys) async throws {
        let rows = keys.storedKeys
        try await write { db in
            for key in rows {
                try db.cachedStatement(sql: """
                        INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, response)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (server_name, key_id) DO UPDATE SET
                            valid_until_ts = MAX(valid_until_ts, excluded.valid_until_ts), expired_ts = excluded.expired_ts,
                            response = CASE WHEN excluded.valid_until_ts >= valid_until_ts THEN excluded.response ELSE response END
                        """).execute(arguments: [
                        key.serverName, key.keyID, UnpaddedBase64.encode(key.publicKey), key.validUntil, key.expiredAt,
                        JSON.object(key.response).encodedString(),
                    ])
            }
        }
    }

    public func serverKeys(serverName: String) async throws -> [StoredServerKey] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM server_keys WHERE server_name = ? ORDER BY key_id"), arguments: [serverName]).compactMap { row in
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
            try String.fetchOne(db.cachedStatement(sql: "SELECT response FROM federation_inbound_transactions WHERE origin = ? AND txn_id = ?"), arguments: [origin, txnID]
            ).map { try JSON.stored($0) }
        }
    }

    public func saveInboundTransaction(origin: String, txnID: String, response: JSON, now: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM federation_inbound_transactions WHERE received_ts < ?").execute(arguments: [now - 86_400_000])
            try db.cachedStatement(sql: """
                    INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?)
                    ON CONFLICT (origin, txn_id) DO NOTHING
                    """).execute(arguments: [origin, txnID, response.encodedString(), now])
        }
    }

    public func enqueueOutbound(destinations: [String], eventID: String?, edu: JSON?, now: Int64) async throws {
        guard !destinations.isEmpty else { return }
        try await write { db in
            for destination in destinations {
                try db.cachedStatement(sql: "INSERT INTO federation_outbox (destination, event_id, edu, created_ts) VALUES (?, ?, ?, ?)").execute(arguments: [destination, eventID, edu?.encodedString(), now])
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO federation_destinations (destination) VALUES (?)").execute(arguments: [destination])
            }
        }
    }

    public func pendingDestinations(now: Int64) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db.cachedStatement(sql: """
                    SELECT d.destination FROM federation_destinations d WHERE d.retry_at <= ?
                    AND EXISTS (SELECT 1 FROM federation_outbox o WHERE o.destination = d.destination)
                    """),
                arguments: [now])
        }
    }

    public func outboundBatch(destination: String, pdus: Int, edus: Int) async throws -> OutboundBatch {
        try await read { db in
            let pduRows = try Row.fetchAll(db.cachedStatement(sql: "SELECT seq, event_id FROM federation_outbox WHERE destination = ? AND event_id IS NOT NULL ORDER BY seq LIMIT ?"),
                arguments: [destination, pdus])
            let eduRows = try Row.fetchAll(db.cachedStatement(sql: "SELECT seq, edu FROM federation_outbox WHERE destination = ? AND edu IS NOT NULL ORDER BY seq LIMIT ?"),
                arguments: [destination, edus])
            let total = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM federation_outbox WHERE destination = ?"), arguments: [destination]) ?? 0
            return OutboundBatch(
                pdus: pduRows.map { ($0["seq"], $0["event_id"]) },
                edus: try eduRows.map { ($0["seq"], try JSON.stored($0["edu"])) }, total: total)
        }
    }

    public func completeOutbound(destination: String, sequences: [Int64]) async throws {
        try await write { db in
            for sequence in sequences {
                try db.cachedStatement(sql: "DELETE FROM federation_outbox WHERE destination = ? AND seq = ?").execute(arguments: [destination, sequence])
            }
            try db.cachedStatement(sql: """
                    UPDATE federation_destinations SET failures = 0, retry_at = 0, failure_ts = NULL,
                      last_success_seq = max(coalesce(last_success_seq, 0), ?) WHERE destination = ?
                    """).execute(arguments: [sequences.max() ?? 0, destination])
        }
    }

    public func failOutbound(destination: String, retryAt: Int64, now: Int64) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: """
                    UPDATE federation_destinations SET failures = failures + 1, retry_at = ?, last_failure_ts = ?,
                      failure_ts = coalesce(failure_ts, ?) WHERE destination = ?
                    """).execute(arguments: [retryAt, now, now, destination])
            return try Int.fetchOne(db.cachedStatement(sql: "SELECT failures FROM federation_destinations WHERE destination = ?"), arguments: [destination]) ?? 0
        }
    }

    public func trimOutbound(destination: String, keeping: Int) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    DELETE FROM federation_outbox WHERE destination = ? AND event_id IS NOT NULL AND seq NOT IN (
                        SELECT seq FROM federation_outbox WHERE destination = ? AND event_id IS NOT NULL ORDER BY seq DESC LIMIT ?)
                    """).execute(arguments: [destination, destination, keeping])
        }
    }

    public func leaseDestination(_ destination: String, owner: String, now: Int64, until: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: """
                    UPDATE federation_destinations SET lease_owner = ?, lease_until = ?
                    WHERE destination = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)
                    """).execute(arguments: [owner, until, destination, owner, now])
            return db.changesCount > 0
        }
    }

    public func releaseDestination(_ destination: String, owner: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE federation_destinations SET lease_owner = NULL, lease_until = 0 WHERE destination = ? AND lease_owner = ?").execute(arguments: [destination, owner])
        }
    }
}
