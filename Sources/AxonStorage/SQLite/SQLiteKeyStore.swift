import Foundation
import GRDB
import MatrixModel

extension SQLiteStorage {
    static func splitKeyID(_ id: String) -> (algorithm: String, keyID: String) {
        guard let colon = id.firstIndex(of: ":") else { return (id, "") }
        return (String(id[..<colon]), String(id[id.index(after: colon)...]))
    }

    public func uploadKeys(
        userID: String, deviceID: String, deviceKeys: JSONObject?, oneTimeKeys: [(id: String, key: JSON)],
        fallbackKeys: [(id: String, key: JSON)]
    ) async throws -> Int64? {
        try await write { db in
            var changed = false
            if let deviceKeys {
                let existing = try String.fetchOne(db.cachedStatement(sql: "SELECT keys FROM device_keys WHERE user_id = ? AND device_id = ?"), arguments: [userID, deviceID])
                if try existing.map({ try JSON.stored($0) }) != .object(deviceKeys) {
                    try db.cachedStatement(sql: """
                            INSERT INTO device_keys (user_id, device_id, keys) VALUES (?, ?, ?)
                            ON CONFLICT (user_id, device_id) DO UPDATE SET keys = excluded.keys
                            """).execute(arguments: [userID, deviceID, JSON.object(deviceKeys).encodedString()])
                    changed = true
                }
            }
            for (id, key) in oneTimeKeys {
                let (algorithm, keyID) = Self.splitKeyID(id)
                let existing = try String.fetchOne(db.cachedStatement(sql: "SELECT key FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?"),
                    arguments: [userID, deviceID, algorithm, keyID])
                if let existing {
                    guard try JSON.stored(existing) == key else { throw KeyStoreError.oneTimeKeyExists(id) }
                    continue
                }
                try db.cachedStatement(sql: "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key) VALUES (?, ?, ?, ?, ?)").execute(arguments: [userID, deviceID, algorithm, keyID, key.encodedString()])
            }
            for (id, key) in fallbackKeys {
                let (algorithm, keyID) = Self.splitKeyID(id)
                // Re-uploading the same fallback key keeps its used flag; a new key starts unused.
                try db.cachedStatement(sql: """
                        INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key, used) VALUES (?, ?, ?, ?, ?, 0)
                        ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key = excluded.key,
                            used = CASE WHEN fallback_keys.key_id = excluded.key_id AND fallback_keys.key = excluded.key
                                THEN fallback_keys.used ELSE 0 END
                        """).execute(arguments: [userID, deviceID, algorithm, keyID, key.encodedString()])
            }
            guard changed else { return nil }
            return try Self.insertDeviceListChange(db, users: [userID])
        }
    }

    public func markDeviceListChanged(userID: String) async throws -> Int64 {
        try await write { db in try Self.insertDeviceListChange(db, users: [userID]) }
    }

    static func insertDeviceListChange(_ db: Database, users: Set<String>) throws -> Int64 {
        let position = try nextPosition(db)
        for user in users {
            try db.cachedStatement(sql: "INSERT INTO device_list_changes (user_id, stream_ordering) VALUES (?, ?)").execute(arguments: [user, position])
        }
        return position
    }

    public func oneTimeKeyCounts(userID: String, deviceID: String) async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT algorithm, COUNT(*) AS n FROM one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm"),
                arguments: [userID, deviceID])
            {
                counts[row["algorithm"]] = row["n"]
            }
            return counts
        }
    }

    public func deviceKeys(userID: String, deviceIDs: [String]?) async throws -> [StoredDeviceKeys] {
        try await read { db in
            var sql = """
                SELECT k.device_id, k.keys, d.display_name FROM device_keys k
                JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id WHERE k.user_id = ?
                """
            var arguments: StatementArguments = [userID]
            if let deviceIDs {
                guard !deviceIDs.isEmpty else { return [] }
                sql += " AND k.device_id IN (\(databaseQuestionMarks(count: deviceIDs.count)))"
                arguments += StatementArguments(deviceIDs)
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY k.device_id", arguments: arguments).map { row in
                StoredDeviceKeys(
                    userID: userID, deviceID: row["device_id"], keys: try JSON.stored(row["keys"]).objectValue ?? [:],
                    displayName: row["display_name"])
            }
        }
    }

    public func claimKey(userID: String, deviceID: String, algorithm: String) async throws -> ClaimedKey? {
        try await write { db in
            if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT key_id, key FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1"),
                arguments: [userID, deviceID, algorithm])
            {
                try db.cachedStatement(sql: "DELETE FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?").execute(arguments: [userID, deviceID, algorithm, row["key_id"]])
                return ClaimedKey(keyID: algorithm + ":" + (row["key_id"] as String), key: try JSON.stored(row["key"]))
            }
            guard
                let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT key_id, key FROM fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?"),
                    arguments: [userID, deviceID, algorithm])
            else { return nil }
            try db.cachedStatement(sql: "UPDATE fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?").execute(arguments: [userID, deviceID, algorithm])
            return ClaimedKey(keyID: algorithm + ":" + (row["key_id"] as String), key: try JSON.stored(row["key"]))
        }
    }

    public func crossSigningKeys(userID: String) async throws -> [String: JSONObject] {
        try await read { db in
            var keys: [String: JSONObject] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT usage, key FROM cross_signing_keys WHERE user_id = ?"), arguments: [userID]) {
                keys[row["usage"]] = try JSON.stored(row["key"]).objectValue
            }
            return keys
        }
    }

    public func setCrossSigningKeys(userID: String, keys: [String: JSONObject]) async throws -> Int64 {
        try await write { db in
            for (usage, key) in keys {
                try db.cachedStatement(sql: """
                        INSERT INTO cross_signing_keys (user_id, usage, key) VALUES (?, ?, ?)
                        ON CONFLICT (user_id, usage) DO UPDATE SET key = excluded.key
                        """).execute(arguments: [userID, usage, JSON.object(key).encodedString()])
            }
            return try Self.insertDeviceListChange(db, users: [userID])
        }
    }

    public func addKeySignatures(_ signatures: [KeySignature], changedUsers: Set<String>) async throws -> Int64 {
        try await write { db in
            for signature in signatures {
                try db.cachedStatement(sql: """
                        INSERT INTO key_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature
                        """).execute(arguments: [
                        signature.targetUserID, signature.targetKeyID, signature.signerUserID, signature.signerKeyID, signature.signature,
                    ])
            }
            return try Self.insertDeviceListChange(db, users: changedUsers)
        }
    }

    public func keySignatures(targetUserID: String) async throws -> [KeySignature] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM key_signatures WHERE target_user_id = ?"), arguments: [targetUserID]).map { row in
                KeySignature(
                    targetUserID: row["target_user_id"], targetKeyID: row["target_key_id"], signerUserID: row["signer_user_id"],
                    signerKeyID: row["signer_key_id"], signature: row["signature"])
            }
        }
    }

    public func deviceListChanges(after: Int64, upTo: Int64) async throws -> Set<String> {
        let changed = try await read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_ordering > ? AND stream_ordering <= ?"),
                arguments: [after, upTo])
        }
        return Set(changed)
    }

    public func membershipChanges(viewer: String, after: Int64, upTo: Int64) async throws -> [MembershipChange] {
        try await read { db in try Self.membershipChanges(db, viewer: viewer, after: after, upTo: upTo) }
    }

    static func membershipChanges(_ db: Database, viewer: String, after: Int64, upTo: Int64) throws -> [MembershipChange] {
            try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT m2.room_id, m2.user_id, m2.membership FROM room_memberships m2
                    CROSS JOIN room_memberships m1 ON m1.room_id = m2.room_id AND m1.user_id = ?
                    WHERE m2.stream_ordering > ? AND m2.stream_ordering <= ?
                    """),
                arguments: [viewer, after, upTo]
            ).map { MembershipChange(roomID: $0["room_id"], userID: $0["user_id"], membership: $0["membership"]) }
    }

    public func sendToDevice(
        sender: String, senderDevice: String, transactionID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)? {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO to_device_transactions (user_id, device_id, txn_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").execute(arguments: [sender, senderDevice, transactionID])
            guard db.changesCount > 0 else { return nil }
            return try Self.deliverToDevice(db, sender: sender, type: type, recipients: recipients)
        }
    }

    public func receiveToDevice(
        sender: String, messageID: String, type: String, recipients: [ToDeviceRecipient]
    ) async throws -> (position: Int64, users: Set<String>)? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await write { db in
            // A week is far longer than any server retries a transaction.
            try db.cachedStatement(sql: "DELETE FROM remote_to_device_ids WHERE received_ts < ?").execute(arguments: [now - Self.remoteMessageIDRetention])
            try db.cachedStatement(sql: "INSERT INTO remote_to_device_ids (sender, message_id, received_ts) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").execute(arguments: [sender, messageID, now])
            guard db.changesCount > 0 else { return nil }
            return try Self.deliverToDevice(db, sender: sender, type: type, recipients: recipients)
        }
    }

    public func remoteDeviceList(userID: String) async throws -> RemoteDeviceList? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT stream_id, keys FROM remote_device_lists WHERE user_id = ?"), arguments: [userID]).map { row in
                RemoteDeviceList(
                    userID: userID, streamID: row["stream_id"], keys: (try? JSONParser.parse(row["keys"] as String))?.objectValue ?? [:])
            }
        }
    }

    public func saveRemoteDeviceList(_ list: RemoteDeviceList) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO remote_device_lists (user_id, stream_id, keys) VALUES (?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, keys = excluded.keys
                    """).execute(arguments: [list.userID, list.streamID, JSON.object(list.keys).encodedString()])
        }
    }

    public func deleteRemoteDeviceList(userID: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM remote_device_lists WHERE user_id = ?").execute(arguments: [userID]) }
    }

    static let remoteMessageIDRetention: Int64 = 7 * 86_400_000

    private static func deliverToDevice(
        _ db: Database, sender: String, type: String, recipients: [ToDeviceRecipient]
    ) throws -> (position: Int64, users: Set<String>) {
        let position = try nextPosition(db)
        var users = Set<String>()
        for recipient in recipients {
            let devices =
                recipient.deviceID == "*"
                ? try String.fetchAll(db.cachedStatement(sql: "SELECT device_id FROM devices WHERE user_id = ?"), arguments: [recipient.userID])
                : try String.fetchAll(db.cachedStatement(sql: "SELECT device_id FROM devices WHERE user_id = ? AND device_id = ?"),
                    arguments: [recipient.userID, recipient.deviceID])
            for device in devices {
                try db.cachedStatement(sql: """
                        INSERT INTO to_device_messages (user_id, device_id, stream_ordering, sender, type, content)
                        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """).execute(arguments: [recipient.userID, device, position, sender, type, recipient.content.encodedString()])
                users.insert(recipient.userID)
            }
        }
        return (position, users)
    }

    public func syncKeyState(
        userID: String, deviceID: String, acknowledged: Int64?, since: Int64?, upTo: Int64, toDeviceLimit: Int
    ) async throws -> SyncKeyState {
        let (state, delivered) = try await read { db -> (SyncKeyState, Bool) in
            var state = SyncKeyState()
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT algorithm, COUNT(*) AS n FROM one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm"),
                arguments: [userID, deviceID])
            {
                state.oneTimeKeyCounts[row["algorithm"]] = row["n"]
            }
            state.unusedFallbackKeyTypes = try String.fetchAll(db.cachedStatement(sql: "SELECT algorithm FROM fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm"),
                arguments: [userID, deviceID])
            state.toDevice = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT sender, type, content, stream_ordering FROM to_device_messages
                    WHERE user_id = ? AND device_id = ? AND stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering LIMIT ?
                    """),
                arguments: [userID, deviceID, acknowledged ?? -1, upTo, toDeviceLimit]
            ).map {
                ToDeviceMessage(sender: $0["sender"], type: $0["type"], content: try JSON.stored($0["content"]), streamPosition: $0["stream_ordering"])
            }
            if let since {
                state.deviceListChanges = Set(
                    try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_ordering > ? AND stream_ordering <= ?"),
                        arguments: [since, upTo]))
                state.membershipChanges = try Self.membershipChanges(db, viewer: userID, after: since, upTo: upTo)
            }
            let delivered =
                try acknowledged.map { acknowledged in
                    try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_ordering <= ? LIMIT 1"),
                        arguments: [userID, deviceID, acknowledged]) ?? false
                } ?? false
            return (state, delivered)
        }
        // Only a sync that acknowledges delivered messages takes the write lock.
        if delivered, let acknowledged {
            try await write { db in
                try db.cachedStatement(sql: "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_ordering <= ?").execute(arguments: [userID, deviceID, acknowledged])
            }
        }
        return state
    }

    public func createBackupVersion(userID: String, algorithm: String, authData: JSON) async throws -> String {
        try await write { db in
            let next = (try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(version) FROM backup_versions WHERE user_id = ?"), arguments: [userID]) ?? 0) + 1
            try db.cachedStatement(sql: "INSERT INTO backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)").execute(arguments: [userID, next, algorithm, authData.encodedString()])
            return String(next)
        }
    }

    public func backupVersion(userID: String, version: String?) async throws -> BackupVersion? {
        if let version, Int64(version) == nil { return nil }
        return try await read { db in try Self.backupVersion(db, userID: userID, version: version.flatMap { Int64($0) }) }
    }

    static func backupVersion(_ db: Database, userID: String, version: Int64?) throws -> BackupVersion? {
        let row: Row?
        if let version {
            row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM backup_versions WHERE user_id = ? AND version = ? AND deleted = 0"), arguments: [userID, version])
        } else {
            row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM backup_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1"),
                arguments: [userID])
        }
        guard let row else { return nil }
        let number: Int64 = row["version"]
        let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM backup_keys WHERE user_id = ? AND version = ?"), arguments: [userID, number]) ?? 0
        return BackupVersion(
            version: String(number), algorithm: row["algorithm"], authData: try JSON.stored(row["auth_data"]),
            etag: String(row["etag"] as Int64), count: count)
    }

    public func updateBackupVersion(userID: String, version: String, authData: JSON) async throws -> Bool {
        guard let number = Int64(version) else { return false }
        return try await write { db in
            try db.cachedStatement(sql: "UPDATE backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0").execute(arguments: [authData.encodedString(), userID, number])
            return db.changesCount > 0
        }
    }

    public func deleteBackupVersion(userID: String, version: String) async throws -> Bool {
        guard let number = Int64(version) else { return false }
        return try await write { db in
            try db.cachedStatement(sql: "UPDATE backup_versions SET deleted = 1 WHERE user_id = ? AND version = ? AND deleted = 0").execute(arguments: [userID, number])
            guard db.changesCount > 0 else { return false }
            try db.cachedStatement(sql: "DELETE FROM backup_keys WHERE user_id = ? AND version = ?").execute(arguments: [userID, number])
            return true
        }
    }

    public func putBackupKeys(
        userID: String, version: String, keys: [BackedUpKey], keepExisting: @escaping @Sendable (JSON, JSON) -> Bool
    ) async throws -> BackupVersion {
        try await write { db in
            let number = try Self.requireBackup(db, userID: userID, version: version, current: true)
            var changed = false
            for key in keys {
                let existing = try String.fetchOne(db.cachedStatement(sql: "SELECT data FROM backup_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?"),
                    arguments: [userID, number, key.roomID, key.sessionID])
                if let existing, keepExisting(try JSON.stored(existing), key.data) { continue }
                try db.cachedStatement(sql: """
                        INSERT INTO backup_keys (user_id, version, room_id, session_id, data) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET data = excluded.data
                        """).execute(arguments: [userID, number, key.roomID, key.sessionID, key.data.encodedString()])
                changed = true
            }
            if changed {
                try db.cachedStatement(sql: "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?").execute(arguments: [userID, number])
            }
            return try Self.backupVersion(db, userID: userID, version: number)!
        }
    }

    /// The version as a number when it exists (and, for writes, is the current one);
    /// otherwise the spec's errors.
    static func requireBackup(_ db: Database, userID: String, version: String, current mustBeCurrent: Bool) throws -> Int64 {
        let current = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(version) FROM backup_versions WHERE user_id = ? AND deleted = 0"), arguments: [userID])
        guard let number = Int64(version),
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM backup_versions WHERE user_id = ? AND version = ? AND deleted = 0"), arguments: [userID, number])
                == true
        else { throw StorageError.notFound("backup version") }
        guard !mustBeCurrent || number == current else { throw KeyStoreError.wrongBackupVersion(current: current.map(String.init)) }
        return number
    }

    public func backupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> [BackedUpKey] {
        guard let number = Int64(version) else { return [] }
        return try await read { db in
            let (filter, arguments) = Self.backupKeyFilter(userID: userID, version: number, roomID: roomID, sessionID: sessionID)
            return try Row.fetchAll(
                db, sql: "SELECT room_id, session_id, data FROM backup_keys WHERE \(filter) ORDER BY room_id, session_id",
                arguments: arguments
            ).map {
                BackedUpKey(roomID: $0["room_id"], sessionID: $0["session_id"], data: try JSON.stored($0["data"]))
            }
        }
    }

    /// All of a version's keys, one room's, or one session's.
    private static func backupKeyFilter(
        userID: String, version: Int64, roomID: String?, sessionID: String?
    ) -> (String, StatementArguments) {
        var sql = "user_id = ? AND version = ?"
        var arguments: StatementArguments = [userID, version]
        if let roomID {
            sql += " AND room_id = ?"
            arguments += [roomID]
        }
        if let sessionID {
            sql += " AND session_id = ?"
            arguments += [sessionID]
        }
        return (sql, arguments)
    }

    public func deleteBackupKeys(userID: String, version: String, roomID: String?, sessionID: String?) async throws -> BackupVersion {
        try await write { db in
            let number = try Self.requireBackup(db, userID: userID, version: version, current: false)
            let (filter, arguments) = Self.backupKeyFilter(userID: userID, version: number, roomID: roomID, sessionID: sessionID)
            try db.execute(sql: "DELETE FROM backup_keys WHERE \(filter)", arguments: arguments)
            if db.changesCount > 0 {
                try db.cachedStatement(sql: "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?").execute(arguments: [userID, number])
            }
            return try Self.backupVersion(db, userID: userID, version: number)!
        }
    }
}
