import GRDB
import MatrixModel

extension SQLiteStorage {
    public func appServiceDelivery(id: String) async throws -> AppServiceDelivery? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM appservice_delivery WHERE as_id = ?"), arguments: [id]).map { row in
                let pending: AppServiceDelivery.PendingTransaction? = (row["pending_txn"] as Int64?).map {
                    AppServiceDelivery.PendingTransaction(id: $0, after: row["pending_after"], upTo: row["pending_up_to"])
                }
                return AppServiceDelivery(
                    deliveredUpTo: row["delivered_up_to"], lastTransactionID: row["last_txn"], pending: pending, failures: row["failures"],
                    retryAt: row["retry_at"])
            }
        }
    }

    public func saveAppServiceDelivery(id: String, _ delivery: AppServiceDelivery) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO appservice_delivery (as_id, delivered_up_to, last_txn, pending_txn, pending_after, pending_up_to, failures, retry_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (as_id) DO UPDATE SET delivered_up_to = excluded.delivered_up_to, last_txn = excluded.last_txn,
                      pending_txn = excluded.pending_txn, pending_after = excluded.pending_after, pending_up_to = excluded.pending_up_to,
                      failures = excluded.failures, retry_at = excluded.retry_at
                    """).execute(arguments: [
                    id, delivery.deliveredUpTo, delivery.lastTransactionID, delivery.pending?.id, delivery.pending?.after, delivery.pending?.upTo,
                    delivery.failures, delivery.retryAt,
                ])
        }
    }

    public func leaseAppService(id: String, owner: String, now: Int64, until: Int64) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO appservice_leases (as_id) VALUES (?) ON CONFLICT DO NOTHING").execute(arguments: [id])
            try db.cachedStatement(sql: """
                    UPDATE appservice_leases SET lease_owner = ?, lease_until = ?
                    WHERE as_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)
                    """).execute(arguments: [owner, until, id, owner, now])
            return db.changesCount > 0
        }
    }

    public func releaseAppService(id: String, owner: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE appservice_leases SET lease_owner = NULL, lease_until = 0 WHERE as_id = ? AND lease_owner = ?").execute(arguments: [id, owner])
        }
    }

    public func ephemeralByStream(after: Int64, upTo: Int64) async throws
        -> (receipts: [Receipt], typingRooms: [String], presence: [PresenceRecord])
    {
        try await read { db in
            let range: StatementArguments = [after, upTo]
            let receipts = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM receipts WHERE stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering"), arguments: range
            ).map(Self.receipt)
            let typing = try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT room_id FROM typing WHERE stream_ordering > ? AND stream_ordering <= ? ORDER BY room_id"), arguments: range)
            let presence = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM presence WHERE stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering"), arguments: range
            ).map(Self.presence)
            return (receipts, typing, presence)
        }
    }

    public func toDeviceByStream(after: Int64, upTo: Int64) async throws -> [(userID: String, deviceID: String, message: ToDeviceMessage)] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM to_device_messages WHERE stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering"),
                arguments: [after, upTo]
            ).map { row in
                (
                    userID: row["user_id"] as String, deviceID: row["device_id"] as String,
                    message: ToDeviceMessage(
                        sender: row["sender"], type: row["type"], content: (try? JSONParser.parse(row["content"] as String)) ?? [:],
                        streamPosition: row["stream_ordering"])
                )
            }
        }
    }

    public func deleteToDevice(userID: String, deviceID: String, upTo: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_ordering <= ?").execute(arguments: [userID, deviceID, upTo])
        }
    }

    public func setAppServiceListing(roomID: String, appServiceID: String, networkID: String, listed: Bool) async throws {
        try await write { db in
            if listed {
                try db.cachedStatement(sql: "INSERT INTO appservice_room_list (as_id, network_id, room_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").execute(arguments: [appServiceID, networkID, roomID])
            } else {
                try db.cachedStatement(sql: "DELETE FROM appservice_room_list WHERE as_id = ? AND network_id = ? AND room_id = ?").execute(arguments: [appServiceID, networkID, roomID])
            }
        }
    }

    public func appServiceListings() async throws -> [(roomID: String, appServiceID: String, networkID: String)] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM appservice_room_list ORDER BY room_id")).map {
                (roomID: $0["room_id"] as String, appServiceID: $0["as_id"] as String, networkID: $0["network_id"] as String)
            }
        }
    }

    public func eventsByStream(after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM events WHERE stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering LIMIT ?"),
                arguments: [after, upTo, limit]
            ).map(SQLiteRoomQueries.storedEvent)
        }
    }
}
