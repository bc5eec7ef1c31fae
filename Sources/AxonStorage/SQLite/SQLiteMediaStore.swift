import GRDB
import MatrixModel

extension SQLiteStorage {
    public func createMedia(_ record: MediaRecord) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO media (media_id, uploader, content_type, filename, sha256, size, created_ts, expires_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                    record.mediaID, record.uploader, record.contentType, record.filename, record.sha256, record.size, record.createdAt,
                    record.expiresAt,
                ])
        }
    }

    public func media(mediaID: String) async throws -> MediaRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM media WHERE media_id = ?"), arguments: [mediaID]).map { row in
                MediaRecord(
                    mediaID: row["media_id"], uploader: row["uploader"], contentType: row["content_type"], filename: row["filename"],
                    sha256: row["sha256"], size: row["size"], createdAt: row["created_ts"], expiresAt: row["expires_ts"],
                    quarantinedBy: row["quarantined_by"])
            }
        }
    }

    public func pendingMediaCount(uploader: String, now: Int64) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM media WHERE uploader = ? AND sha256 IS NULL AND expires_ts > ?"), arguments: [uploader, now]) ?? 0
        }
    }

    public func completeMedia(
        mediaID: String, uploader: String, contentType: String?, filename: String?, sha256: String, size: Int64, now: Int64
    ) async throws -> MediaCompletion {
        try await write { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT uploader, sha256, expires_ts FROM media WHERE media_id = ?"), arguments: [mediaID])
            else { return .notFound }
            guard row["uploader"] as String == uploader else { return .notUploader }
            guard (row["sha256"] as String?) == nil else { return .alreadyUploaded }
            if let expires: Int64 = row["expires_ts"], expires <= now { return .expired }
            try db.cachedStatement(sql: "UPDATE media SET content_type = ?, filename = ?, sha256 = ?, size = ?, expires_ts = NULL WHERE media_id = ?").execute(arguments: [contentType, filename, sha256, size, mediaID])
            return .completed
        }
    }

    public func thumbnail(mediaID: String, width: Int, height: Int, method: String) async throws -> ThumbnailRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM media_thumbnails WHERE media_id = ? AND width = ? AND height = ? AND method = ?"),
                arguments: [mediaID, width, height, method]
            ).map { row in
                ThumbnailRecord(
                    mediaID: mediaID, width: width, height: height, method: method, contentType: row["content_type"], sha256: row["sha256"],
                    size: row["size"])
            }
        }
    }

    public func saveThumbnail(_ thumbnail: ThumbnailRecord) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO media_thumbnails (media_id, width, height, method, content_type, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """).execute(arguments: [
                    thumbnail.mediaID, thumbnail.width, thumbnail.height, thumbnail.method, thumbnail.contentType, thumbnail.sha256,
                    thumbnail.size,
                ])
        }
    }

    public func remoteMedia(origin: String, mediaID: String, variant: String) async throws -> RemoteMediaRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM remote_media WHERE origin = ? AND media_id = ? AND variant = ?"), arguments: [origin, mediaID, variant]
            ).map { row in
                RemoteMediaRecord(
                    origin: row["origin"], mediaID: row["media_id"], variant: row["variant"], contentType: row["content_type"],
                    filename: row["filename"], sha256: row["sha256"], size: row["size"], fetchedAt: row["fetched_ts"])
            }
        }
    }

    public func saveRemoteMedia(_ record: RemoteMediaRecord) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                    INSERT INTO remote_media (origin, media_id, variant, content_type, filename, sha256, size, fetched_ts)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (origin, media_id, variant) DO UPDATE SET content_type = excluded.content_type,
                        filename = excluded.filename, sha256 = excluded.sha256, size = excluded.size, fetched_ts = excluded.fetched_ts
                    """).execute(arguments: [
                    record.origin, record.mediaID, record.variant, record.contentType, record.filename, record.sha256, record.size,
                    record.fetchedAt,
                ])
        }
    }

    public func urlPreview(url: String, bucket: Int64) async throws -> JSONObject? {
        try await read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT preview FROM url_previews WHERE url = ? AND bucket = ?"), arguments: [url, bucket])
                .flatMap { try? JSONParser.parse($0).objectValue }
        }
    }

    public func saveURLPreview(url: String, bucket: Int64, preview: JSONObject, olderThan: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM url_previews WHERE bucket < ?").execute(arguments: [olderThan])
            try db.cachedStatement(sql: """
                    INSERT INTO url_previews (url, bucket, preview) VALUES (?, ?, ?)
                    ON CONFLICT (url, bucket) DO UPDATE SET preview = excluded.preview
                    """).execute(arguments: [url, bucket, JSON.object(preview).encodedString()])
        }
    }
}
