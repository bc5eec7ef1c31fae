import GRDB
import MatrixModel

extension SQLiteStorage {
    public func localMedia(_ query: LocalMediaQuery) async throws -> (media: [AdminMediaEntry], total: Int) {
        try await read { db in
            var conditions = ["m.sha256 IS NOT NULL"]
            var arguments: [DatabaseValueConvertible] = []
            if let uploader = query.uploader {
                conditions.append("m.uploader = ?")
                arguments.append(uploader)
            }
            if let before = query.createdBefore {
                conditions.append("m.created_ts < ?")
                arguments.append(before)
            }
            if let size = query.sizeGreaterThan {
                conditions.append("m.size > ?")
                arguments.append(size)
            }
            let filter = "WHERE " + conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM media m \(filter)", arguments: StatementArguments(arguments)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM media m \(filter) \(query.order.clause(descending: query.descending)) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            return (rows.map(Self.adminMediaEntry), total)
        }
    }

    public func localMediaEntry(mediaID: String) async throws -> AdminMediaEntry? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM media m WHERE media_id = ? AND sha256 IS NOT NULL"), arguments: [mediaID]).map(Self.adminMediaEntry)
        }
    }

    static func adminMediaEntry(_ row: Row) -> AdminMediaEntry {
        AdminMediaEntry(
            record: MediaRecord(
                mediaID: row["media_id"], uploader: row["uploader"], contentType: row["content_type"], filename: row["filename"],
                sha256: row["sha256"], size: row["size"], createdAt: row["created_ts"], expiresAt: row["expires_ts"],
                quarantinedBy: row["quarantined_by"]),
            safeFromQuarantine: row["safe_from_quarantine"])
    }

    public func mediaQuarantine(origin: String?, mediaID: String) async throws -> String? {
        try await read { db in
            if let origin {
                return try String.fetchOne(db.cachedStatement(sql: "SELECT quarantined_by FROM media_quarantine WHERE origin = ? AND media_id = ?"), arguments: [origin, mediaID])
            }
            return try String.fetchOne(db.cachedStatement(sql: "SELECT quarantined_by FROM media WHERE media_id = ?"), arguments: [mediaID])
        }
    }

    public func setMediaQuarantine(origin: String?, mediaIDs: [String], by: String?) async throws -> Int {
        try await write { db in
            var changed = 0
            for mediaID in mediaIDs {
                if let origin {
                    if let by {
                        try db.cachedStatement(sql: "INSERT INTO media_quarantine (origin, media_id, quarantined_by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").execute(arguments: [origin, mediaID, by])
                    } else {
                        try db.cachedStatement(sql: "DELETE FROM media_quarantine WHERE origin = ? AND media_id = ?").execute(arguments: [origin, mediaID])
                    }
                } else if let by {
                    try db.cachedStatement(sql: "UPDATE media SET quarantined_by = ? WHERE media_id = ? AND quarantined_by IS NULL AND safe_from_quarantine = 0").execute(arguments: [by, mediaID])
                } else {
                    try db.cachedStatement(sql: "UPDATE media SET quarantined_by = NULL WHERE media_id = ? AND quarantined_by IS NOT NULL").execute(arguments: [mediaID])
                }
                changed += db.changesCount
            }
            return changed
        }
    }

    public func setMediaProtected(mediaID: String, protected: Bool) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE media SET safe_from_quarantine = ? WHERE media_id = ?").execute(arguments: [protected, mediaID])
        }
    }

    public func deleteLocalMedia(mediaIDs: [String]) async throws -> (deleted: [String], unreferenced: [String]) {
        try await write { db in
            var deleted: [String] = []
            var hashes = Set<String>()
            for mediaID in mediaIDs {
                guard let sha256 = try String.fetchOne(db.cachedStatement(sql: "SELECT sha256 FROM media WHERE media_id = ?"), arguments: [mediaID]) else {
                    continue
                }
                hashes.insert(sha256)
                hashes.formUnion(try String.fetchAll(db.cachedStatement(sql: "SELECT sha256 FROM media_thumbnails WHERE media_id = ?"), arguments: [mediaID]))
                try db.cachedStatement(sql: "DELETE FROM media_thumbnails WHERE media_id = ?").execute(arguments: [mediaID])
                try db.cachedStatement(sql: "DELETE FROM media WHERE media_id = ?").execute(arguments: [mediaID])
                deleted.append(mediaID)
            }
            return (deleted, try Self.unreferenced(hashes, db))
        }
    }

    public func purgeRemoteMedia(fetchedBefore: Int64) async throws -> (deleted: Int, unreferenced: [String]) {
        try await write { db in
            let hashes = Set(try String.fetchAll(db.cachedStatement(sql: "SELECT sha256 FROM remote_media WHERE fetched_ts < ?"), arguments: [fetchedBefore]))
            let deleted = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(DISTINCT origin || '/' || media_id) FROM remote_media WHERE fetched_ts < ?"), arguments: [fetchedBefore]) ?? 0
            try db.cachedStatement(sql: "DELETE FROM remote_media WHERE fetched_ts < ?").execute(arguments: [fetchedBefore])
            return (deleted, try Self.unreferenced(hashes, db))
        }
    }

    /// The hashes no upload, thumbnail or cached remote copy refers to.
    private static func unreferenced(_ hashes: Set<String>, _ db: Database) throws -> [String] {
        try hashes.sorted().filter { sha256 in
            try Int.fetchOne(db.cachedStatement(sql: """
                    SELECT (SELECT COUNT(*) FROM media WHERE sha256 = ?) + (SELECT COUNT(*) FROM media_thumbnails WHERE sha256 = ?)
                      + (SELECT COUNT(*) FROM remote_media WHERE sha256 = ?)
                    """),
                arguments: [sha256, sha256, sha256]) == 0
        }
    }

    public func mediaUsage(_ query: MediaUsageQuery) async throws -> (users: [MediaUsage], total: Int) {
        try await read { db in
            var conditions = ["m.sha256 IS NOT NULL"]
            var arguments: [DatabaseValueConvertible] = []
            if let from = query.createdFrom {
                conditions.append("m.created_ts >= ?")
                arguments.append(from)
            }
            if let until = query.createdUntil {
                conditions.append("m.created_ts <= ?")
                arguments.append(until)
            }
            let displayName = "json_extract(u.profile, '$.displayname')"
            if let term = query.searchTerm, !term.isEmpty {
                conditions.append("(instr(lower(m.uploader), ?) > 0 OR instr(lower(coalesce(\(displayName), '')), ?) > 0)")
                arguments += [term.lowercased(), term.lowercased()]
            }
            let grouped = """
                SELECT m.uploader AS user_id, \(displayName) AS displayname, COUNT(*) AS media_count, SUM(m.size) AS media_length
                FROM media m LEFT JOIN users u ON u.user_id = m.uploader WHERE \(conditions.joined(separator: " AND ")) GROUP BY m.uploader
                """
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(grouped))", arguments: StatementArguments(arguments)) ?? 0
            let direction = query.descending ? "DESC" : "ASC"
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM (\(grouped)) ORDER BY \(query.order.rawValue) IS NULL, \(query.order.rawValue) \(direction), user_id \(direction) LIMIT ? OFFSET ?",
                arguments: StatementArguments(arguments + [query.limit, query.from]))
            return (rows.map { MediaUsage(userID: $0["user_id"], displayName: $0["displayname"], mediaCount: $0["media_count"], mediaLength: $0["media_length"]) }, total)
        }
    }

    public func avatarURIs() async throws -> Set<String> {
        try await read { db in
            Set(
                try String.fetchAll(db.cachedStatement(sql: """
                        SELECT CAST(json_extract(profile, '$.avatar_url') AS TEXT) AS uri FROM users WHERE uri IS NOT NULL
                        UNION SELECT CAST(json_extract(e.json, '$.content.url') AS TEXT) AS uri FROM current_state c JOIN events e ON e.event_id = c.event_id
                          WHERE c.type = 'm.room.avatar' AND uri IS NOT NULL
                        UNION SELECT CAST(json_extract(e.json, '$.content.avatar_url') AS TEXT) AS uri FROM current_state c JOIN events e ON e.event_id = c.event_id
                          WHERE c.type = 'm.room.member' AND uri IS NOT NULL
                        """)))
        }
    }
}
