import MatrixModel

/// A local upload as the admin media API shows it.
public struct AdminMediaEntry: Sendable, Equatable {
    public var record: MediaRecord
    /// Protected from quarantine (`POST /_synapse/admin/v1/media/protect/{mediaId}`).
    public var safeFromQuarantine: Bool

    public init(record: MediaRecord, safeFromQuarantine: Bool) {
        self.record = record
        self.safeFromQuarantine = safeFromQuarantine
    }
}

/// Which local uploads: a user's, old or large ones, a page of them.
public struct LocalMediaQuery: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        case mediaID = "media_id", uploadName = "upload_name", createdTS = "created_ts", mediaLength = "media_length"
        case mediaType = "media_type", quarantinedBy = "quarantined_by", safeFromQuarantine = "safe_from_quarantine"
        /// Not recorded: uploads are ordered by creation instead.
        case lastAccessTS = "last_access_ts"

        var column: String {
            switch self {
            case .mediaID: "m.media_id"
            case .uploadName: "m.filename"
            case .createdTS, .lastAccessTS: "m.created_ts"
            case .mediaLength: "m.size"
            case .mediaType: "m.content_type"
            case .quarantinedBy: "m.quarantined_by"
            case .safeFromQuarantine: "m.safe_from_quarantine"
            }
        }

        func clause(descending: Bool) -> String {
            let direction = descending ? "DESC" : "ASC"
            return "ORDER BY \(column) IS NULL, \(column) \(direction), m.media_id \(direction)"
        }
    }

    public var uploader: String?
    public var createdBefore: Int64?
    public var sizeGreaterThan: Int64?
    public var from = 0
    public var limit = Int.max
    public var order: Order = .createdTS
    public var descending = false

    public init() {}
}

/// One user's share of the server's media (`GET /_synapse/admin/v1/statistics/users/media`).
public struct MediaUsage: Sendable, Equatable {
    public var userID: String
    public var displayName: String?
    public var mediaCount: Int
    public var mediaLength: Int64

    public init(userID: String, displayName: String?, mediaCount: Int, mediaLength: Int64) {
        self.userID = userID
        self.displayName = displayName
        self.mediaCount = mediaCount
        self.mediaLength = mediaLength
    }
}

public struct MediaUsageQuery: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        case userID = "user_id", displayName = "displayname", mediaLength = "media_length", mediaCount = "media_count"
    }

    public var from = 0
    public var limit = 100
    public var order: Order = .userID
    public var descending = false
    public var createdFrom: Int64?
    public var createdUntil: Int64?
    /// Part of the user ID or display name.
    public var searchTerm: String?

    public init() {}
}

/// Server administration over media: listing, quarantine, protection, deletion.
public protocol AdminMediaStore: Sendable {
    /// Complete local uploads matching the query, and how many match in all.
    func localMedia(_ query: LocalMediaQuery) async throws -> (media: [AdminMediaEntry], total: Int)
    func localMediaEntry(mediaID: String) async throws -> AdminMediaEntry?
    /// Who quarantined the media, when it is; `origin` nil for local media.
    func mediaQuarantine(origin: String?, mediaID: String) async throws -> String?
    /// Quarantines (or releases, when `by` is nil) each media of `origin` (nil: local
    /// uploads, of which protected ones are left alone). The number whose state changed.
    @discardableResult
    func setMediaQuarantine(origin: String?, mediaIDs: [String], by: String?) async throws -> Int
    func setMediaProtected(mediaID: String, protected: Bool) async throws
    /// Deletes the uploads and their thumbnails; returns the IDs deleted and the content
    /// hashes nothing refers to any more, whose files may go.
    func deleteLocalMedia(mediaIDs: [String]) async throws -> (deleted: [String], unreferenced: [String])
    /// Drops cached copies of other servers' media fetched before `fetchedBefore`.
    func purgeRemoteMedia(fetchedBefore: Int64) async throws -> (deleted: Int, unreferenced: [String])
    func mediaUsage(_ query: MediaUsageQuery) async throws -> (users: [MediaUsage], total: Int)
    /// The `mxc://` URIs that are avatars: of users' profiles, of rooms, of room members.
    func avatarURIs() async throws -> Set<String>
}
