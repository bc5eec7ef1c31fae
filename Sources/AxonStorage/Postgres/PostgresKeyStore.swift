import Foundation
import Logging
import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func markDeviceListChanged(userID: String) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in try await Self.insertDeviceListChange(connection, users: [userID], logger: logger) }
    }

    /// Records a device-list change and wakes, on every node, the users and rooms that see it.
    static func insertDeviceListChange(_ connection: PostgresConnection, users: Set<String>, logger: Logger) async throws -> Int64 {
        let position = try await nextPosition(connection, logger: logger)
        for user in users {
            try await connection.rows("INSERT INTO device_list_changes (user_id, stream_ordering) VALUES (\(user), \(position))", logger: logger)
            try await notify(connection, change: "u \(position) \(user)", logger: logger)
            for row in try await connection.rows(
                "SELECT room_id FROM room_memberships WHERE user_id = \(user) AND membership = 'join'", logger: logger)
            {
                try await notify(connection, change: "r \(position) \(try row.decode(String.self))", logger: logger)
            }
        }
        return position
    }

    public func uploadKeys(
        userID: String, deviceID: String, deviceKeys: JSONObject?, oneTimeKeys: [(id: String, key: JSON)],
        fallbackKeys: [(id: String, key: JSON)]
    ) async throws -> Int64? {
        let logger = self.logger
        return try await transaction { connection in
            var changed = false
            if let deviceKeys {
                let existing = try await connection.rows(
                    "SELECT keys FROM device_keys WHERE user_id = \(userID) AND device_id = \(deviceID) FOR UPDATE", logger: logger
                ).first.map { try JSON.stored(try $0.decode(String.self)) }
                if existing != .object(deviceKeys) {
                    try await connection.rows(
                        """
                        INSERT INTO device_keys (user_id, device_id, keys) VALUES (\(userID), \(deviceID), \(JSON.object(deviceKeys).encodedString()))
                        ON CONFLICT (user_id, device_id) DO UPDATE SET keys = excluded.keys
                        """, logger: logger)
                    changed = true
                }
            }
            for (id, key) in oneTimeKeys {
                let (algorithm, keyID) = SQLiteStorage.splitKeyID(id)
                let inserted = try await connection.rows(
                    """
                    INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key)
                    VALUES (\(userID), \(deviceID), \(algorithm), \(keyID), \(key.encodedString()))
                    ON CONFLICT DO NOTHING RETURNING key_id
                    """, logger: logger)
                guard inserted.isEmpty else { continue }
                let existing = try await connection.rows(
                    """
                    SELECT key FROM one_time_keys WHERE user_id = \(userID) AND device_id = \(deviceID)
                    AND algorithm = \(algorithm) AND key_id = \(keyID)
                    """, logger: logger
                ).first.map { try JSON.stored(try $0.decode(String.self)) }
                guard existing == key else { throw KeyStoreError.oneTimeKeyExists(id) }
            }
            for (id, key) in fallbackKeys {
                let (algorithm, keyID) = SQLiteStorage.splitKeyID(id)
                try await connection.rows(
                    """
                    INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key, used)
                    VALUES (\(userID), \(deviceID), \(algorithm), \(keyID), \(key.encodedString()), FALSE)
                    ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key = excluded.key,
                        used = CASE WHEN fallback_keys.key_id = excluded.key_id AND fallback_keys.key = excluded.key
                            THEN fallback_keys.used ELSE FALSE END
                    """, logger: logger)
            }
            guard changed else { return nil }
            return try await Self.insertDeviceListChange(connection, users: [userID], logger: logger)
        }
    }

    public func oneTimeKeyCounts(userID: String, deviceID: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await query(
            "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = \(userID) AND device_id = \(deviceID) GROUP BY algorithm")
        {
            let (algorithm, count) = try row.decode((String, Int64).self)
            counts[algorithm] = Int(count)
        }
        return counts
    }

    public func deviceKeys(userID: String, deviceIDs: [String]?) async throws -> [StoredDeviceKeys] {
        if let deviceIDs, deviceIDs.isEmpty { return [] }
        return try await query(
            """
            SELECT k.device_id, k.keys, d.display_name FROM device_keys k
            JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
            WHERE k.user_id = \(userID) AND (\(deviceIDs == nil) OR k.device_id = ANY(\(deviceIDs ?? [])))
            ORDER BY k.device_id
            """
        ).map { row in
            let (deviceID, keys, name) = try row.decode((String, String, String?).self)
            return StoredDeviceKeys(userID: userID, deviceID: deviceID, keys: try JSON.stored(keys).objectValue ?? [:], displayName: name)
        }
    }

    public func claimKey(userID: String, deviceID: String, algorithm: String) async throws -> ClaimedKey? {
        let logger = self.logger
        return try await transaction { connection in
            // SKIP LOCKED: two claims at once take two different keys instead of waiting.
            if let row = try await connection.rows(
                """
                DELETE FROM one_time_keys WHERE (user_id, device_id, algorithm, key_id) = (
                    SELECT user_id, device_id, algorithm, key_id FROM one_time_keys
                    WHERE user_id = \(userID) AND device_id = \(deviceID) AND algorithm = \(algorithm)
                    ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING key_id, key
                """, logger: logger
            ).first {
                let (keyID, key) = try row.decode((String, String).self)
                return ClaimedKey(keyID: algorithm + ":" + keyID, key: try JSON.stored(key))
            }
            guard
                let row = try await connection.rows(
                    """
                    UPDATE fallback_keys SET used = TRUE WHERE user_id = \(userID) AND device_id = \(deviceID) AND algorithm = \(algorithm)
                    RETURNING key_id, key
                    """, logger: logger
                ).first
            else { return nil }
            let (keyID, key) = try row.decode((String, String).self)
            return ClaimedKey(keyID: algorithm + ":" + keyID, key: try JSON.stored(key))
        }
    }

    public func crossSigningKeys(userID: String) async throws -> [String: JSONObject] {
        var keys: [String: JSONObject] = [:]
        for row in try await query("SELECT usage, key FROM cross_signing_keys WHERE user_id = \(userID)") {
            let (usage, key) = try row.decode((String, String).self)
            keys[usage] = try JSON.stored(key).objectValue
        }
        return keys
    }

    public func setCrossSigningKeys(userID: String, keys: [String: JSONObject]) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            for (usage, key) in keys {
                try await connection.rows(
                    """
                    INSERT INTO cross_signing_keys (user_id, usage, key) VALUES (\(userID), \(usage), \(JSON.object(key).encodedString()))
                    ON CONFLICT (user_id, usage) DO UPDATE SET key = excluded.key
                    """, logger: logger)
            }
            return try await Self.insertDeviceListChange(connection, users: [userID], logger: logger)
        }
    }

    public func addKeySignatures(_ signatures: [KeySignature], changedUsers: Set<String>) async throws -> Int64 {
        let logger = self.logger
        return try await transaction { connection in
            for signature in signatures {
                try await connection.rows(
                    """
                    INSERT INTO key_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
                    VALUES (\(signature.targetUserID), \(signature.targetKeyID), \(signature.signerUserID), \(signature.signerKeyID),
                        \(signature.signature))
                    ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature
                    """, logger: logger)
            }
            return try await Self.insertDeviceListChange(connection, users: changedUsers, logger: logger)
        }
    }

    public func keySignatures(targetUserID: String) async throws -> [KeySignature] {
        try await query(
            "SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM key_signatures WHERE target_user_id = \(targetUserID)"
        ).map { row in
            let (user, key, signer, signerKey, signature) = try row.decode((String, String, String, String, String).self)
            return KeySignature(targetUserID: user, targetKeyID: key, signerUserID: signer, signerKeyID: signerKey, signature: signature)
        }
    }

    public func deviceListChanges(after: Int64, upTo: Int64) async throws -> Set<String> {
        Set(
            try await query(
                """
                SELECT DISTINCT user_id FROM device_list_changes WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo)
                """
            ).map { try $0.decode(String.self) })
    }

    public func membershipChanges(viewer: String, after: Int64, upTo: Int64) async throws -> [MembershipChange] {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await Self.membershipChanges(connection, viewer: viewer, after: after, upTo: upTo, logger: logger)
        }
    }

    static func membershipChanges(
        _ connection: PostgresConnection, viewer: String, after: Int64, upTo: Int64, logger: Logger
    ) async throws -> [MembershipChange] {
        try await connection.rows(
            """
            SELECT m2.room_id, m2.user_id, m2.membership FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id
            WHERE m1.user_id = \(viewer) AND m2.stream_ordering > \(after) AND m2.stream_ordering <= \(upTo)
            """, logger: logger
        ).map { row in
            let (room, user, membership) = try row.decode((String, String, String).self)
            return MembershipChange(roomID: room, userID: user, membership: membership)
        }
    }

    public func sendToDevice(
        sender: String, senderDevice: String, transactionID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)? {
        let logger = self.logger
        return try await transaction { connection in
            let fresh = try await connection.rows(
                """
                INSERT INTO to_device_transactions (user_id, device_id, txn_id) VALUES (\(sender), \(senderDevice), \(transactionID))
                ON CONFLICT DO NOTHING RETURNING txn_id
                """, logger: logger)
            guard !fresh.isEmpty else { return nil }
            return try await Self.deliverToDevice(connection, sender: sender, type: type, recipients: recipients, logger: logger)
        }
    }

    public func receiveToDevice(
        sender: String, messageID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)? {
        let logger = self.logger
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await transaction { connection in
            try await connection.rows("DELETE FROM remote_to_device_ids WHERE received_ts < \(now - 7 * 86_400_000)", logger: logger)
            let fresh = try await connection.rows(
                """
                INSERT INTO remote_to_device_ids (sender, message_id, received_ts) VALUES (\(sender), \(messageID), \(now))
                ON CONFLICT DO NOTHING RETURNING message_id
                """, logger: logger)
            guard !fresh.isEmpty else { return nil }
            return try await Self.deliverToDevice(connection, sender: sender, type: type, recipients: recipients, logger: logger)
        }
    }

    public func remoteDeviceList(userID: String) async throws -> RemoteDeviceList? {
        try await query("SELECT stream_id, keys FROM remote_device_lists WHERE user_id = \(userID)").first.map { row in
            let (streamID, keys) = try row.decode((Int64?, String).self)
            return RemoteDeviceList(userID: userID, streamID: streamID, keys: (try? JSONParser.parse(keys))?.objectValue ?? [:])
        }
    }

    public func saveRemoteDeviceList(_ list: RemoteDeviceList) async throws {
        try await query(
            """
            INSERT INTO remote_device_lists (user_id, stream_id, keys) VALUES (\(list.userID), \(list.streamID), \(JSON.object(list.keys).encodedString()))
            ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, keys = excluded.keys
            """)
    }

    public func deleteRemoteDeviceList(userID: String) async throws {
        try await query("DELETE FROM remote_device_lists WHERE user_id = \(userID)")
    }

    private static func deliverToDevice(
        _ connection: PostgresConnection, sender: String, type: String, recipients: [ToDeviceRecipient], logger: Logger
    ) async throws -> (position: Int64, users: Set<String>) {
        let position = try await nextPosition(connection, logger: logger)
        var users = Set<String>()
        for recipient in recipients {
            let reached = try await connection.rows(
                """
                INSERT INTO to_device_messages (user_id, device_id, stream_ordering, sender, type, content)
                SELECT user_id, device_id, \(position), \(sender), \(type), \(recipient.content.encodedString()) FROM devices
                WHERE user_id = \(recipient.userID) AND (\(recipient.deviceID) = '*' OR device_id = \(recipient.deviceID))
                ON CONFLICT DO NOTHING RETURNING user_id
                """, logger: logger)
            if !reached.isEmpty { users.insert(recipient.userID) }
        }
        for user in users { try await notify(connection, change: "u \(position) \(user)", logger: logger) }
        return (position, users)
    }

    public func syncKeyState(
        userID: String, deviceID: String, acknowledged: Int64?, since: Int64?, upTo: Int64, toDeviceLimit: Int
    ) async throws -> SyncKeyState {
        let logger = self.logger
        return try await client.withConnection { connection in
            if let acknowledged {
                try await Self.prepared(
                    DeliveredToDeviceQuery.self, DeliveredToDeviceQuery.make(userID: userID, deviceID: deviceID, acknowledged: acknowledged),
                    on: connection, logger: logger)
            }
            // One round trip for what every sync reads: each part comes back as JSON text.
            let after = since ?? upTo
            let row = try await Self.prepared(
                SyncKeyStateQuery.self,
                SyncKeyStateQuery.make(userID: userID, deviceID: deviceID, after: after, upTo: upTo, toDeviceLimit: toDeviceLimit),
                on: connection, logger: logger)[0]
            let (keys, fallback, messages, devices, memberships) = try row.decode((String, String, String, String, String).self)
            var state = SyncKeyState()
            for (algorithm, count) in try JSONParser.parse(keys).objectValue ?? [:] {
                state.oneTimeKeyCounts[algorithm] = count.intValue.map(Int.init) ?? 0
            }
            state.unusedFallbackKeyTypes = try JSONParser.parse(fallback).arrayValue?.compactMap(\.stringValue) ?? []
            state.toDevice = try (JSONParser.parse(messages).arrayValue ?? []).map { row in
                let message = row.arrayValue ?? []
                guard message.count == 4, let sender = message[0].stringValue, let type = message[1].stringValue,
                    let content = message[2].stringValue, let position = message[3].intValue
                else { throw StoredDocumentError(reason: "a to-device message row") }
                return ToDeviceMessage(sender: sender, type: type, content: try JSON.stored(content), streamPosition: position)
            }
            if since != nil {
                state.deviceListChanges = Set(try JSONParser.parse(devices).arrayValue?.compactMap(\.stringValue) ?? [])
                state.membershipChanges = try (JSONParser.parse(memberships).arrayValue ?? []).compactMap { row in
                    let change = row.arrayValue ?? []
                    guard change.count == 3, let room = change[0].stringValue, let user = change[1].stringValue,
                        let membership = change[2].stringValue
                    else { return nil }
                    return MembershipChange(roomID: room, userID: user, membership: membership)
                }
            }
            return state
        }
    }

    /// Backup writes of one user run one at a time, across nodes.
    private static func lockBackups(_ connection: PostgresConnection, userID: String, logger: Logger) async throws {
        try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\("backup " + userID), 0))", logger: logger)
    }

    public func createBackupVersion(userID: String, algorithm: String, authData: JSON) async throws -> String {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lockBackups(connection, userID: userID, logger: logger)
            let next = try await connection.rows(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM backup_versions WHERE user_id = \(userID)", logger: logger)[0].decode(Int64.self)
            try await connection.rows(
                """
                INSERT INTO backup_versions (user_id, version, algorithm, auth_data)
                VALUES (\(userID), \(next), \(algorithm), \(authData.encodedString()))
                """, logger: logger)
            return String(next)
        }
    }

    public func backupVersion(userID: String, version: String?) async throws -> BackupVersion? {
        if let version, Int64(version) == nil { return nil }
        let logger = self.logger
        return try await client.withConnection { connection in
            try await Self.backupVersion(connection, userID: userID, version: version.flatMap { Int64($0) }, logger: logger)
        }
    }

    static func backupVersion(_ connection: PostgresConnection, userID: String, version: Int64?, logger: Logger) async throws -> BackupVersion? {
        guard
            let row = try await connection.rows(
                """
                SELECT v.version, v.algorithm, v.auth_data, v.etag,
                    (SELECT COUNT(*) FROM backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version)
                FROM backup_versions v WHERE v.user_id = \(userID) AND NOT v.deleted AND (\(version == nil) OR v.version = \(version ?? 0))
                ORDER BY v.version DESC LIMIT 1
                """, logger: logger
            ).first
        else { return nil }
        let (number, algorithm, authData, etag, count) = try row.decode((Int64, String, String, Int64, Int64).self)
        return BackupVersion(version: String(number), algorithm: algorithm, authData: try JSON.stored(authData), etag: String(etag), count: Int(count))
    }

    public func updateBackupVersion(userID: String, version: String, authData: JSON) async throws -> Bool {
        guard let number = Int64(version) else { return false }
        return !(try await query(
            """
            UPDATE backup_versions SET auth_data = \(authData.encodedString())
            WHERE user_id = \(userID) AND version = \(number) AND NOT deleted RETURNING version
            """
        ).isEmpty)
    }

    public func deleteBackupVersion(userID: String, version: String) async throws -> Bool {
        guard let number = Int64(version) else { return false }
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lockBackups(connection, userID: userID, logger: logger)
            let deleted = try await connection.rows(
                "UPDATE backup_versions SET deleted = TRUE WHERE user_id = \(userID) AND version = \(number) AND NOT deleted RETURNING version",
                logger: logger)
            guard !deleted.isEmpty else { return false }
            try await connection.rows("DELETE FROM backup_keys WHERE user_id = \(userID) AND version = \(number)", logger: logger)
            return true
        }
    }

    private static func requireBackup(
        _ connection: PostgresConnection, userID: String, version: String, current mustBeCurrent: Bool, logger: Logger
    ) async throws -> Int64 {
        let current = try await connection.rows(
            "SELECT MAX(version) FROM backup_versions WHERE user_id = \(userID) AND NOT deleted", logger: logger)[0].decode(Int64?.self)
        guard let number = Int64(version),
            !(try await connection.rows(
                "SELECT 1 FROM backup_versions WHERE user_id = \(userID) AND version = \(number) AND NOT deleted", logger: logger
            ).isEmpty)
        else { throw StorageError.notFound("backup version") }
        guard !mustBeCurrent || number == current else { throw KeyStoreError.wrongBackupVersion(current: current.map(String.init)) }
        return number
    }

    public func putBackupKeys(
        userID: String, version: String, keys: [BackedUpKey], keepExisting: @escaping @Sendable (JSON, JSON) -> Bool
    ) async throws -> BackupVersion {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lockBackups(connection, userID: userID, logger: logger)
            let number = try await Self.requireBackup(connection, userID: userID, version: version, current: true, logger: logger)
            var changed = false
            for key in keys {
                let existing = try await connection.rows(
                    """
                    SELECT data FROM backup_keys WHERE user_id = \(userID) AND version = \(number)
                    AND room_id = \(key.roomID) AND session_id = \(key.sessionID)
                    """, logger: logger
                ).first.map { try JSON.stored(try $0.decode(String.self)) }
                if let existing, keepExisting(existing, key.data) { continue }
                try await connection.rows(
                    """
                    INSERT INTO backup_keys (user_id, version, room_id, session_id, data)
                    VALUES (\(userID), \(number), \(key.roomID), \(key.sessionID), \(key.data.encodedString()))
                    ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET data = excluded.data
                    """, logger: logger)
                changed = true
            }
            if changed {
                try await connection.rows(
                    "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = \(userID) AND version = \(number)", logger: logger)
            }
            return try await Self.backupVersion(connection, userID: userID, version: number, logger: logger)!
        }
    }

    public func backupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> [BackedUpKey] {
        guard let number = Int64(version) else { return [] }
        return try await query(
            """
            SELECT room_id, session_id, data FROM backup_keys WHERE user_id = \(userID) AND version = \(number)
            AND (\(roomID == nil) OR room_id = \(roomID ?? "")) AND (\(sessionID == nil) OR session_id = \(sessionID ?? ""))
            ORDER BY room_id, session_id
            """
        ).map { row in
            let (room, session, data) = try row.decode((String, String, String).self)
            return BackedUpKey(roomID: room, sessionID: session, data: try JSON.stored(data))
        }
    }

    public func deleteBackupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> BackupVersion {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lockBackups(connection, userID: userID, logger: logger)
            let number = try await Self.requireBackup(connection, userID: userID, version: version, current: false, logger: logger)
            let deleted = try await connection.rows(
                """
                DELETE FROM backup_keys WHERE user_id = \(userID) AND version = \(number)
                AND (\(roomID == nil) OR room_id = \(roomID ?? "")) AND (\(sessionID == nil) OR session_id = \(sessionID ?? ""))
                RETURNING session_id
                """, logger: logger)
            if !deleted.isEmpty {
                try await connection.rows(
                    "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = \(userID) AND version = \(number)", logger: logger)
            }
            return try await Self.backupVersion(connection, userID: userID, version: number, logger: logger)!
        }
    }
}

/// `syncKeyState`: key counts, to-device messages, device-list and membership changes in one statement.
enum SyncKeyStateQuery: PreparedQuery {
    static func make(userID: String, deviceID: String, after: Int64, upTo: Int64, toDeviceLimit: Int) -> PostgresQuery {
        """
        SELECT
            (SELECT COALESCE(json_object_agg(algorithm, n), '{}') FROM (
                SELECT algorithm, COUNT(*) AS n FROM one_time_keys
                WHERE user_id = \(userID) AND device_id = \(deviceID) GROUP BY algorithm) k)::TEXT,
            (SELECT COALESCE(json_agg(algorithm ORDER BY algorithm), '[]') FROM fallback_keys
                WHERE user_id = \(userID) AND device_id = \(deviceID) AND NOT used)::TEXT,
            (SELECT COALESCE(json_agg(json_build_array(sender, type, content, stream_ordering) ORDER BY stream_ordering), '[]')
                FROM (SELECT sender, type, content, stream_ordering FROM to_device_messages
                    WHERE user_id = \(userID) AND device_id = \(deviceID) AND stream_ordering <= \(upTo)
                    ORDER BY stream_ordering LIMIT \(toDeviceLimit)) t)::TEXT,
            (SELECT COALESCE(json_agg(DISTINCT user_id), '[]') FROM device_list_changes
                WHERE stream_ordering > \(after) AND stream_ordering <= \(upTo))::TEXT,
            (SELECT COALESCE(json_agg(json_build_array(m2.room_id, m2.user_id, m2.membership)), '[]')
                FROM room_memberships m1 JOIN room_memberships m2 ON m2.room_id = m1.room_id
                WHERE m1.user_id = \(userID) AND m2.stream_ordering > \(after) AND m2.stream_ordering <= \(upTo))::TEXT
        """
    }
    static let sql = make(userID: "", deviceID: "", after: 0, upTo: 0, toDeviceLimit: 0).sql
}

/// The to-device messages a sync acknowledged: gone (every sync of a client that uses them).
enum DeliveredToDeviceQuery: PreparedQuery {
    static func make(userID: String, deviceID: String, acknowledged: Int64) -> PostgresQuery {
        "DELETE FROM to_device_messages WHERE user_id = \(userID) AND device_id = \(deviceID) AND stream_ordering <= \(acknowledged)"
    }
    static let sql = make(userID: "", deviceID: "", acknowledged: 0).sql
}
