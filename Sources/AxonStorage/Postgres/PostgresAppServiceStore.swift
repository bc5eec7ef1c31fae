import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func appServiceDelivery(id: String) async throws -> AppServiceDelivery? {
        try await query(
            """
            SELECT delivered_up_to, last_txn, pending_txn, pending_after, pending_up_to, failures, retry_at FROM appservice_delivery
            WHERE as_id = \(id)
            """
        ).first.map { row in
            let (delivered, last, txn, after, upTo, failures, retryAt) = try row.decode((Int64, Int64, Int64?, Int64?, Int64?, Int64, Int64).self)
            let pending = txn.map { AppServiceDelivery.PendingTransaction(id: $0, after: after ?? 0, upTo: upTo ?? 0) }
            return AppServiceDelivery(deliveredUpTo: delivered, lastTransactionID: last, pending: pending, failures: Int(failures), retryAt: retryAt)
        }
    }

    public func saveAppServiceDelivery(id: String, _ delivery: AppServiceDelivery) async throws {
        try await query(
            """
            INSERT INTO appservice_delivery (as_id, delivered_up_to, last_txn, pending_txn, pending_after, pending_up_to, failures, retry_at)
            VALUES (\(id), \(delivery.deliveredUpTo), \(delivery.lastTransactionID), \(delivery.pending?.id), \(delivery.pending?.after),
              \(delivery.pending?.upTo), \(Int64(delivery.failures)), \(delivery.retryAt))
            ON CONFLICT (as_id) DO UPDATE SET delivered_up_to = excluded.delivered_up_to, last_txn = excluded.last_txn,
              pending_txn = excluded.pending_txn, pending_after = excluded.pending_after, pending_up_to = excluded.pending_up_to,
              failures = excluded.failures, retry_at = excluded.retry_at
            """)
    }

    public func leaseAppService(id: String, owner: String, now: Int64, until: Int64) async throws -> Bool {
        try await query("INSERT INTO appservice_leases (as_id) VALUES (\(id)) ON CONFLICT DO NOTHING")
        return !(try await query(
            """
            UPDATE appservice_leases SET lease_owner = \(owner), lease_until = \(until)
            WHERE as_id = \(id) AND (lease_owner IS NULL OR lease_owner = \(owner) OR lease_until < \(now)) RETURNING as_id
            """
        ).isEmpty)
    }

    public func releaseAppService(id: String, owner: String) async throws {
        try await query("UPDATE appservice_leases SET lease_owner = NULL, lease_until = 0 WHERE as_id = \(id) AND lease_owner = \(owner)")
    }

    public func ephemeralByStream(after: Int64, upTo: Int64) async throws
        -> (receipts: [Receipt], typingRooms: [String], presence: [PresenceRecord])
    {
        let receipts = try await query(
            """
            SELECT \(unescaped: Self.receiptColumns) FROM receipts WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo)
            ORDER BY stream_ordering
            """
        ).map(Self.receipt)
        let typing = try await query(
            "SELECT DISTINCT room_id FROM typing WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo) ORDER BY room_id"
        ).map { try $0.decode(String.self) }
        let presence = try await query(
            """
            SELECT user_id, state, status_msg, last_active_ts, stream_ordering FROM presence
            WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo) ORDER BY stream_ordering
            """
        ).map(Self.presence)
        return (receipts, typing, presence)
    }

    public func toDeviceByStream(after: Int64, upTo: Int64) async throws -> [(userID: String, deviceID: String, message: ToDeviceMessage)] {
        try await query(
            """
            SELECT user_id, device_id, sender, type, content, stream_ordering FROM to_device_messages
            WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo) ORDER BY stream_ordering
            """
        ).map { row in
            let (userID, deviceID, sender, type, content, stream) = try row.decode((String, String, String, String, String, Int64).self)
            return (
                userID: userID, deviceID: deviceID,
                message: ToDeviceMessage(sender: sender, type: type, content: (try? JSONParser.parse(content)) ?? [:], streamPosition: stream)
            )
        }
    }

    public func deleteToDevice(userID: String, deviceID: String, upTo: Int64) async throws {
        try await query("DELETE FROM to_device_messages WHERE user_id = \(userID) AND device_id = \(deviceID) AND stream_ordering <= \(upTo)")
    }

    public func setAppServiceListing(roomID: String, appServiceID: String, networkID: String, listed: Bool) async throws {
        if listed {
            try await query(
                "INSERT INTO appservice_room_list (as_id, network_id, room_id) VALUES (\(appServiceID), \(networkID), \(roomID)) ON CONFLICT DO NOTHING")
        } else {
            try await query(
                "DELETE FROM appservice_room_list WHERE as_id = \(appServiceID) AND network_id = \(networkID) AND room_id = \(roomID)")
        }
    }

    public func appServiceListings() async throws -> [(roomID: String, appServiceID: String, networkID: String)] {
        try await query("SELECT room_id, as_id, network_id FROM appservice_room_list ORDER BY room_id").map { row in
            let (roomID, appServiceID, networkID) = try row.decode((String, String, String).self)
            return (roomID: roomID, appServiceID: appServiceID, networkID: networkID)
        }
    }

    public func eventsByStream(after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent] {
        try await query(
            """
            SELECT \(unescaped: Self.eventColumns) FROM events WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo)
            ORDER BY stream_ordering LIMIT \(limit)
            """
        ).map(Self.storedEvent)
    }
}
