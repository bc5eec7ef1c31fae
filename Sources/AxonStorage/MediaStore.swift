import MatrixModel

/// A piece of uploaded content: its metadata here, its bytes in a content-addressed file.
public struct MediaRecord: Sendable, Equatable {
    public var mediaID: String
    public var uploader: String
    public var contentType: String?
    public var filename: String?
    /// Nil while an upload created with `/create` is still pending.
    public var sha256: String?
    public var size: Int64
    public var createdAt: Int64
    /// When a pending upload stops being usable.
    public var expiresAt: Int64?
    /// The admin who quarantined it: then it is served to no one.
    public var quarantinedBy: String?

    public init(
        mediaID: String, uploader: String, contentType: String?, filename: String?, sha256: String?, size: Int64, createdAt: Int64,
        expiresAt: Int64?, quarantinedBy: String? = nil
    ) {
        self.quarantinedBy = quarantinedBy
        self.mediaID = mediaID
        self.uploader = uploader
        self.contentType = contentType
        self.filename = filename
        self.sha256 = sha256
        self.size = size
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public var isPending: Bool { sha256 == nil }
}

public struct ThumbnailRecord: Sendable, Equatable {
    public var mediaID: String
    public var width: Int
    public var height: Int
    public var method: String
    public var contentType: String
    public var sha256: String
    public var size: Int64

    public init(mediaID: String, width: Int, height: Int, method: String, contentType: String, sha256: String, size: Int64) {
        self.mediaID = mediaID
        self.width = width
        self.height = height
        self.method = method
        self.contentType = contentType
        self.sha256 = sha256
        self.size = size
    }
}

/// Media of another server, fetched once and served from here after that: the original
/// (`variant` "") or one thumbnail size ("320x240-scale").
public struct RemoteMediaRecord: Sendable, Equatable {
    public var origin: String
    public var mediaID: String
    public var variant: String
    public var contentType: String?
    public var filename: String?
    public var sha256: String
    public var size: Int64
    public var fetchedAt: Int64

    public init(
        origin: String, mediaID: String, variant: String, contentType: String?, filename: String?, sha256: String, size: Int64,
        fetchedAt: Int64
    ) {
        self.origin = origin
        self.mediaID = mediaID
        self.variant = variant
        self.contentType = contentType
        self.filename = filename
        self.sha256 = sha256
        self.size = size
        self.fetchedAt = fetchedAt
    }
}

public enum MediaCompletion: Sendable, Equatable {
    case completed
    case notFound
    case notUploader
    case alreadyUploaded
    case expired
}

public protocol MediaStore: Sendable {
    /// Stores a new record (complete, or pending when its hash is nil).
    func createMedia(_ record: MediaRecord) async throws
    func media(mediaID: String) async throws -> MediaRecord?
    /// Pending uploads of the user that have not expired at `now`.
    func pendingMediaCount(uploader: String, now: Int64) async throws -> Int
    /// Fills in a pending upload once, for its creator, before it expires.
    func completeMedia(
        mediaID: String, uploader: String, contentType: String?, filename: String?, sha256: String, size: Int64, now: Int64
    ) async throws -> MediaCompletion
    func thumbnail(mediaID: String, width: Int, height: Int, method: String) async throws -> ThumbnailRecord?
    func saveThumbnail(_ thumbnail: ThumbnailRecord) async throws
    func remoteMedia(origin: String, mediaID: String, variant: String) async throws -> RemoteMediaRecord?
    /// Stores (or replaces) a fetched copy.
    func saveRemoteMedia(_ record: RemoteMediaRecord) async throws
    /// A URL preview made for this time bucket (`/preview_url`), if any.
    func urlPreview(url: String, bucket: Int64) async throws -> JSONObject?
    /// Keeps a preview; previews of buckets older than `olderThan` are dropped.
    func saveURLPreview(url: String, bucket: Int64, preview: JSONObject, olderThan: Int64) async throws
}
