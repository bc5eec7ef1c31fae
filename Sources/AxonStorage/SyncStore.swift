import MatrixModel

public struct AccountDataEntry: Sendable, Equatable {
    /// nil for global account data.
    public var roomID: String?
    public var type: String
    public var content: JSON
    public var streamPosition: Int64
}

public struct Receipt: Sendable, Equatable {
    public var roomID: String
    public var userID: String
    public var type: String
    /// nil for unthreaded receipts.
    public var threadID: String?
    public var eventID: String
    public var timestamp: Int64
    public var streamPosition: Int64

    public init(roomID: String, userID: String, type: String, threadID: String?, eventID: String, timestamp: Int64, streamPosition: Int64 = 0) {
        self.roomID = roomID
        self.userID = userID
        self.type = type
        self.threadID = threadID
        self.eventID = eventID
        self.timestamp = timestamp
        self.streamPosition = streamPosition
    }
}

public struct PresenceRecord: Sendable, Equatable {
    public var userID: String
    public var state: String
    public var statusMessage: String?
    public var lastActive: Int64
    public var streamPosition: Int64
}

/// Account data, filters, and the stream reads `/sync` and `/events` are built from. Every
/// read here is bounded by what changed between two stream positions.
public protocol SyncStore: Sendable {
    /// Stores account data at the next stream position and returns that position.
    @discardableResult
    func setAccountData(userID: String, roomID: String?, type: String, content: JSON) async throws -> Int64
    func accountData(userID: String, roomID: String?, type: String) async throws -> JSON?
    /// Account data changed after `since` (all of it when nil), global and per room.
    func accountDataChanges(userID: String, since: Int64?) async throws -> [AccountDataEntry]

    /// Stores the user's latest receipt of this type (and thread) in the room; returns its position.
    @discardableResult
    func setReceipt(_ receipt: Receipt) async throws -> Int64
    /// Receipts in the room with positions in (after, upTo]; all current ones when `after` is nil.
    func receipts(roomID: String, after: Int64?, upTo: Int64) async throws -> [Receipt]

    /// Receipts in the rooms the user is joined to, with positions in (after, upTo].
    func receiptChanges(userID: String, after: Int64, upTo: Int64) async throws -> [Receipt]

    /// Marks the user typing in the room until `expiresAt` (nil: stopped); returns the position.
    @discardableResult
    func setTyping(roomID: String, userID: String, expiresAt: Int64?) async throws -> Int64
    /// Rooms the user is joined to whose typing changed in (after, upTo].
    func typingChanges(userID: String, after: Int64, upTo: Int64) async throws -> Set<String>
    /// Who is typing in the room at `now`.
    func typingUsers(roomID: String, now: Int64) async throws -> [String]
    /// Ends typing notices whose time ran out, each at a new position; returns the rooms touched.
    func expireTyping(now: Int64) async throws -> [(roomID: String, position: Int64)]

    /// Stores the user's presence at a new position; `notify` are the users to wake elsewhere.
    @discardableResult
    func setPresence(userID: String, state: String, statusMessage: String?, lastActive: Int64, notify: [String]) async throws -> Int64
    func presence(userID: String) async throws -> PresenceRecord?
    /// Presence of the user and everyone sharing a joined room with them, changed in (after, upTo]
    /// (all of it when `after` is nil).
    func presenceChanges(userID: String, after: Int64?, upTo: Int64) async throws -> [PresenceRecord]
    /// Users sharing at least one joined room with the user.
    func roomPeers(userID: String) async throws -> [String]
    /// Those of `candidates` sharing at least one joined room with the user: a few users are
    /// checked without listing everyone in the user's rooms.
    func roomPeers(userID: String, among candidates: Set<String>) async throws -> Set<String>

    /// Stores a filter and returns its ID; the same filter stored again keeps its ID. Only the
    /// newest `keepingAtMost` filters of a user are kept.
    func createFilter(userID: String, filter: JSON, keepingAtMost limit: Int) async throws -> String
    func filter(userID: String, filterID: String) async throws -> JSON?

    /// Rooms the user has any membership in whose events changed in (after, upTo], with the
    /// latest position of each.
    func changedRooms(userID: String, after: Int64, upTo: Int64) async throws -> [String: Int64]
    /// What an incremental sync reads first, together (one read on SQLite, one round trip on
    /// PostgreSQL); with `presence`, also `presenceChanges`.
    func syncChanges(userID: String, after: Int64, upTo: Int64, presence: Bool) async throws -> SyncChanges
    /// A room's events with stream positions in (after, upTo], newest first, at most `limit`.
    /// `latest`, when the caller knows one, is a position at or below `upTo` after which the
    /// room has no events up to `upTo` (its newest event's): with it, the read can be
    /// answered from the room's cached timeline tail.
    func roomEventsByStream(roomID: String, after: Int64, upTo: Int64, limit: Int, latest: Int64?) async throws -> [StoredEvent]
    /// What an initial `/sync` shows of each of many joined rooms, read for all of them at once
    /// (one read transaction on SQLite, one statement per part on PostgreSQL) instead of per room.
    /// `unreadCounts` false leaves `notificationCounts` empty (the legacy API shows none).
    func roomSyncBatch(
        userID: String, roomIDs: [String], upTo: Int64, timelineLimit: Int, now: Int64, unreadCounts: Bool
    ) async throws -> RoomSyncBatch
    /// State events of a room with stream positions in (after, upTo].
    func stateEventsByStream(roomID: String, after: Int64, upTo: Int64) async throws -> [StoredEvent]
    /// Events of every room the user has a membership in, with positions in (after, upTo], oldest first.
    func userEvents(userID: String, after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent]

    /// Lazy loading: the member event last sent to this device for each of `members` in the room.
    func lazyMembersSent(userID: String, deviceID: String, roomID: String, members: [String]) async throws -> [String: String]
    /// Records member events (member user ID → event ID) sent to the device; `resetting`
    /// forgets what the device was sent before in that room (an initial or full-state sync).
    func recordLazyMembersSent(userID: String, deviceID: String, roomID: String, sent: [String: String], resetting: Bool) async throws
}

/// The streams an incremental sync starts from, in (after, upTo]: rooms with typing changes,
/// rooms with new events (latest position of each), receipts, and account data (after
/// `after` only; the caller drops entries past its position); the ignored-user list; and,
/// when asked for, presence changes.
public struct SyncChanges: Sendable {
    public var typingRooms: Set<String> = []
    public var changedRooms: [String: Int64] = [:]
    public var receipts: [Receipt] = []
    public var accountData: [AccountDataEntry] = []
    /// The user's current `m.ignored_user_list` content, changed or not: every sync filters by it.
    public var ignoredUserList: JSON?
    /// `presenceChanges(userID:after:upTo:)`, nil when not asked for.
    public var presence: [PresenceRecord]?

    public init() {}
}

/// `roomSyncBatch`: per room, what the per-room reads would have answered.
public struct RoomSyncBatch: Sendable {
    /// `roomEventsByStream(after: -1, upTo:, limit: timelineLimit)`: newest first.
    public var timelines: [String: [StoredEvent]] = [:]
    /// `receipts(roomID:after: nil, upTo:)`.
    public var receipts: [String: [Receipt]] = [:]
    /// `typingUsers(roomID:now:)`.
    public var typing: [String: [String]] = [:]
    /// `notificationCounts(userID:roomID:)`.
    public var notificationCounts: [String: [NotificationCount]] = [:]

    public init() {}
}

extension SyncStore {
    public func roomEventsByStream(roomID: String, after: Int64, upTo: Int64, limit: Int) async throws -> [StoredEvent] {
        try await roomEventsByStream(roomID: roomID, after: after, upTo: upTo, limit: limit, latest: nil)
    }
}
