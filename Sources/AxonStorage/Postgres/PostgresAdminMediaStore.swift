import MatrixModel
import PostgresNIO

extension PostgresStorage {
    static let adminMediaColumns =
        "m.media_id, m.uploader, m.content_type, m.filename, m.sha256, m.size, m.created_ts, m.expires_ts, m.quarantined_by, m.safe_from_quarantine"

    public func localMedia(_ query: LocalMediaQuery) async throws -> (media: [AdminMediaEntry], total: Int) {
        var conditions = ["m.sha256 IS NOT NULL"]
        var bindings = PostgresBindings()
        if let uploader = query.uploader {
            bindings.append(uploader)
            conditions.append("m.uploader = $\(bindings.count)")
        }
        if let before = query.createdBefore {
            bindings.append(before)
            conditions.append("m.created_ts < $\(bindings.count)")
        }
        if let size = query.sizeGreaterThan {
            bindings.append(size)
            conditions.append("m.size > $\(bindings.count)")
        }
        let filter = "WHERE " + conditions.joined(separator: " AND ")
        let total = try await count("SELECT COUNT(*) FROM media m \(filter)", bindings)
        let media = try await page(
            "SELECT \(Self.adminMediaColumns) FROM media m \(filter) \(query.order.clause(descending: query.descending))", bindings,
            limit: query.limit, offset: query.from, Self.adminMediaEntry)
        return (media, total)
    }

    public func localMediaEntry(mediaID: String) async throws -> AdminMediaEntry? {
        try await query(
            "SELECT \(unescaped: Self.adminMediaColumns) FROM media m WHERE media_id = \(mediaID) AND sha256 IS NOT NULL"
        ).first.map(Self.adminMediaEntry)
    }

    static func adminMediaEntry(_ row: PostgresRow) throws -> AdminMediaEntry {
        let c = try row.decode((String, String, String?, String?, String?, Int64, Int64, Int64?, String?, Bool).self)
        return AdminMediaEntry(
            record: MediaRecord(
                mediaID: c.0, uploader: c.1, contentType: c.2, filename: c.3, sha256: c.4, size: c.5, createdAt: c.6, expiresAt: c.7,
                quarantinedBy: c.8),
            safeFromQuarantine: c.9)
    }

    public func mediaQuarantine(origin: String?, mediaID: String) async throws -> String? {
        if let origin {
            return try await query("SELECT quarantined_by FROM media_quarantine WHERE origin = \(origin) AND media_id = \(mediaID)")
                .first.map { try $0.decode(String.self) }
        }
        return try await query("SELECT quarantined_by FROM media WHERE media_id = \(mediaID)").first.flatMap { try $0.decode(String?.self) }
    }

    public func setMediaQuarantine(origin: String?, mediaIDs: [String], by: String?) async throws -> Int {
        let logger = self.logger
        return try await transaction { connection in
            var changed = 0
            for mediaID in mediaIDs {
                let query: PostgresQuery
                switch (origin, by) {
                case (let origin?, let by?):
                    query = """
                        INSERT INTO media_quarantine (origin, media_id, quarantined_by) VALUES (\(origin), \(mediaID), \(by))
                        ON CONFLICT DO NOTHING RETURNING 1
                        """
                case (let origin?, nil):
                    query = "DELETE FROM media_quarantine WHERE origin = \(origin) AND media_id = \(mediaID) RETURNING 1"
                case (nil, let by?):
                    query = """
                        UPDATE media SET quarantined_by = \(by)
                        WHERE media_id = \(mediaID) AND quarantined_by IS NULL AND NOT safe_from_quarantine RETURNING 1
                        """
                case (nil, nil):
                    query = "UPDATE media SET quarantined_by = NULL WHERE media_id = \(mediaID) AND quarantined_by IS NOT NULL RETURNING 1"
                }
                changed += try await connection.rows(query, logger: logger).count
            }
            return changed
        }
    }

    public func setMediaProtected(mediaID: String, protected: Bool) async throws {
        try await query("UPDATE media SET safe_from_quarantine = \(protected) WHERE media_id = \(mediaID)")
    }

    public func deleteLocalMedia(mediaIDs: [String]) async throws -> (deleted: [String], unreferenced: [String]) {
        let logger = self.logger
        return try await transaction { connection in
            var deleted: [String] = []
            var hashes = Set<String>()
            for mediaID in mediaIDs {
                guard let sha256 = try await connection.rows("SELECT sha256 FROM media WHERE media_id = \(mediaID)", logger: logger)
                    .first.flatMap({ try $0.decode(String?.self) })
                else { continue }
                hashes.insert(sha256)
                for row in try await connection.rows("DELETE FROM media_thumbnails WHERE media_id = \(mediaID) RETURNING sha256", logger: logger) {
                    hashes.insert(try row.decode(String.self))
                }
                _ = try await connection.rows("DELETE FROM media WHERE media_id = \(mediaID)", logger: logger)
                deleted.append(mediaID)
            }
            return (deleted, try await Self.unreferenced(hashes, connection, logger))
        }
    }

    public func purgeRemoteMedia(fetchedBefore: Int64) async throws -> (deleted: Int, unreferenced: [String]) {
        let logger = self.logger
        return try await transaction { connection in
            var hashes = Set<String>()
            var media = Set<String>()
            for row in try await connection.rows(
                "DELETE FROM remote_media WHERE fetched_ts < \(fetchedBefore) RETURNING origin, media_id, sha256", logger: logger)
            {
                let (origin, mediaID, sha256) = try row.decode((String, String, String).self)
                media.insert(origin + "/" + mediaID)
                hashes.insert(sha256)
            }
            return (media.count, try await Self.unreferenced(hashes, connection, logger))
        }
    }

    /// The hashes no upload, thumbnail or cached remote copy refers to.
    private static func unreferenced(_ hashes: Set<String>, _ connection: PostgresConnection, _ logger: Logger) async throws -> [String] {
        var free: [String] = []
        for sha256 in hashes.sorted() {
            let rows = try await connection.rows(
                """
                SELECT 1 FROM media WHERE sha256 = \(sha256) UNION ALL SELECT 1 FROM media_thumbnails WHERE sha256 = \(sha256)
                UNION ALL SELECT 1 FROM remote_media WHERE sha256 = \(sha256) LIMIT 1
                """, logger: logger)
            if rows.isEmpty { free.append(sha256) }
        }
        return free
    }

    public func mediaUsage(_ query: MediaUsageQuery) async throws -> (users: [MediaUsage], total: Int) {
        var conditions = ["m.sha256 IS NOT NULL"]
        var bindings = PostgresBindings()
        if let from = query.createdFrom {
            bindings.append(from)
            conditions.append("m.created_ts >= $\(bindings.count)")
        }
        if let until = query.createdUntil {
            bindings.append(until)
            conditions.append("m.created_ts <= $\(bindings.count)")
        }
        let displayName = "(u.profile::jsonb->>'displayname')"
        if let term = query.searchTerm, !term.isEmpty {
            bindings.append(term.lowercased())
            conditions.append("(strpos(lower(m.uploader), $\(bindings.count)) > 0 OR strpos(lower(coalesce(\(displayName), '')), $\(bindings.count)) > 0)")
        }
        let grouped = """
            SELECT m.uploader AS user_id, \(displayName) AS displayname, COUNT(*) AS media_count, SUM(m.size)::BIGINT AS media_length
            FROM media m LEFT JOIN users u ON u.user_id = m.uploader WHERE \(conditions.joined(separator: " AND "))
            GROUP BY m.uploader, u.profile
            """
        let total = try await count("SELECT COUNT(*) FROM (\(grouped)) g", bindings)
        let direction = query.descending ? "DESC" : "ASC"
        let sql = """
            SELECT user_id, displayname, media_count, media_length FROM (\(grouped)) g
            ORDER BY \(query.order.rawValue) IS NULL, \(query.order.rawValue) \(direction), user_id \(direction)
            """
        let users = try await page(sql, bindings, limit: query.limit, offset: query.from) { row in
            let (userID, name, count, length) = try row.decode((String, String?, Int64, Int64).self)
            return MediaUsage(userID: userID, displayName: name, mediaCount: Int(count), mediaLength: length)
        }
        return (users, total)
    }

    public func avatarURIs() async throws -> Set<String> {
        let rows = try await query(
            """
            SELECT uri FROM (
              SELECT profile::jsonb->>'avatar_url' AS uri FROM users
              UNION SELECT e.json::jsonb->'content'->>'url' FROM current_state c JOIN events e ON e.event_id = c.event_id WHERE c.type = 'm.room.avatar'
              UNION SELECT e.json::jsonb->'content'->>'avatar_url' FROM current_state c JOIN events e ON e.event_id = c.event_id
                WHERE c.type = 'm.room.member') u
            WHERE uri IS NOT NULL
            """)
        return Set(try rows.map { try $0.decode(String.self) })
    }
}
