import MatrixModel
import PostgresNIO

extension PostgresStorage {
    public func createMedia(_ record: MediaRecord) async throws {
        try await query(
            """
            INSERT INTO media (media_id, uploader, content_type, filename, sha256, size, created_ts, expires_ts)
            VALUES (\(record.mediaID), \(record.uploader), \(record.contentType), \(record.filename), \(record.sha256), \(record.size),
                \(record.createdAt), \(record.expiresAt))
            """)
    }

    public func media(mediaID: String) async throws -> MediaRecord? {
        try await query(
            "SELECT \(unescaped: Self.adminMediaColumns) FROM media m WHERE media_id = \(mediaID)"
        ).first.map { try Self.adminMediaEntry($0).record }
    }

    public func pendingMediaCount(uploader: String, now: Int64) async throws -> Int {
        Int(
            try await query("SELECT COUNT(*) FROM media WHERE uploader = \(uploader) AND sha256 IS NULL AND expires_ts > \(now)")[0]
                .decode(Int64.self))
    }

    public func completeMedia(
        mediaID: String, uploader: String, contentType: String?, filename: String?, sha256: String, size: Int64, now: Int64
    ) async throws -> MediaCompletion {
        let logger = self.logger
        return try await transaction { connection in
            guard
                let row = try await connection.rows(
                    "SELECT uploader, sha256, expires_ts FROM media WHERE media_id = \(mediaID) FOR UPDATE", logger: logger
                ).first
            else { return .notFound }
            let (owner, existing, expires) = try row.decode((String, String?, Int64?).self)
            guard owner == uploader else { return .notUploader }
            guard existing == nil else { return .alreadyUploaded }
            if let expires, expires <= now { return .expired }
            try await connection.rows(
                """
                UPDATE media SET content_type = \(contentType), filename = \(filename), sha256 = \(sha256), size = \(size), expires_ts = NULL
                WHERE media_id = \(mediaID)
                """, logger: logger)
            return .completed
        }
    }

    public func thumbnail(mediaID: String, width: Int, height: Int, method: String) async throws -> ThumbnailRecord? {
        try await query(
            """
            SELECT content_type, sha256, size FROM media_thumbnails
            WHERE media_id = \(mediaID) AND width = \(width) AND height = \(height) AND method = \(method)
            """
        ).first.map { row in
            let (type, sha256, size) = try row.decode((String, String, Int64).self)
            return ThumbnailRecord(mediaID: mediaID, width: width, height: height, method: method, contentType: type, sha256: sha256, size: size)
        }
    }

    public func saveThumbnail(_ thumbnail: ThumbnailRecord) async throws {
        try await query(
            """
            INSERT INTO media_thumbnails (media_id, width, height, method, content_type, sha256, size)
            VALUES (\(thumbnail.mediaID), \(thumbnail.width), \(thumbnail.height), \(thumbnail.method), \(thumbnail.contentType),
                \(thumbnail.sha256), \(thumbnail.size))
            ON CONFLICT DO NOTHING
            """)
    }

    public func remoteMedia(origin: String, mediaID: String, variant: String) async throws -> RemoteMediaRecord? {
        try await query(
            """
            SELECT content_type, filename, sha256, size, fetched_ts FROM remote_media
            WHERE origin = \(origin) AND media_id = \(mediaID) AND variant = \(variant)
            """
        ).first.map { row in
            let (type, filename, sha256, size, fetched) = try row.decode((String?, String?, String, Int64, Int64).self)
            return RemoteMediaRecord(
                origin: origin, mediaID: mediaID, variant: variant, contentType: type, filename: filename, sha256: sha256, size: size,
                fetchedAt: fetched)
        }
    }

    public func saveRemoteMedia(_ record: RemoteMediaRecord) async throws {
        try await query(
            """
            INSERT INTO remote_media (origin, media_id, variant, content_type, filename, sha256, size, fetched_ts)
            VALUES (\(record.origin), \(record.mediaID), \(record.variant), \(record.contentType), \(record.filename), \(record.sha256),
                \(record.size), \(record.fetchedAt))
            ON CONFLICT (origin, media_id, variant) DO UPDATE SET content_type = excluded.content_type,
                filename = excluded.filename, sha256 = excluded.sha256, size = excluded.size, fetched_ts = excluded.fetched_ts
            """)
    }

    public func urlPreview(url: String, bucket: Int64) async throws -> JSONObject? {
        try await query("SELECT preview FROM url_previews WHERE url = \(url) AND bucket = \(bucket)").first
            .flatMap { try? JSONParser.parse(try $0.decode(String.self)).objectValue }
    }

    public func saveURLPreview(url: String, bucket: Int64, preview: JSONObject, olderThan: Int64) async throws {
        try await query("DELETE FROM url_previews WHERE bucket < \(olderThan)")
        try await query(
            """
            INSERT INTO url_previews (url, bucket, preview) VALUES (\(url), \(bucket), \(JSON.object(preview).encodedString()))
            ON CONFLICT (url, bucket) DO UPDATE SET preview = excluded.preview
            """)
    }
}
