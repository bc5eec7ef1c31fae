import MatrixModel

/// Event types whose arrival moves a room up the sliding-sync room list (MSC4186 `bump_stamp`).
public enum BumpEvents {
    public static let types: Set<String> = [
        "m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite", "m.poll.start", "m.beacon_info",
    ]
}

/// One of the user's rooms as the sliding-sync room list sees it.
public struct RoomListEntry: Sendable, Equatable {
    public var roomID: String
    public var membership: String
    public var membershipEventID: String
    /// The sender of the membership event; nil when the event is not stored as a timeline event.
    public var membershipSender: String?
    public var membershipPosition: Int64
    /// The position of the room's latest bump event; nil when it has none this server knows.
    public var bumpStamp: Int64?

    public init(
        roomID: String, membership: String, membershipEventID: String, membershipSender: String?, membershipPosition: Int64,
        bumpStamp: Int64?
    ) {
        self.roomID = roomID
        self.membership = membership
        self.membershipEventID = membershipEventID
        self.membershipSender = membershipSender
        self.membershipPosition = membershipPosition
        self.bumpStamp = bumpStamp
    }
}

/// What one sliding-sync connection has sent of one room. A live room (`sentUpTo` nil) is
/// up to date as of the connection's position; a room that changed while outside every list
/// and subscription is up to date only as of `sentUpTo`. `config` is the room config last
/// applied (canonical text, compared as such); `extra` keeps what else was sent (the member
/// events lazily sent, whether it was a DM).
public struct SlidingSyncRoomRecord: Sendable, Equatable {
    public var roomID: String
    public var sentUpTo: Int64?
    public var config: String
    public var extra: JSON

    public init(roomID: String, sentUpTo: Int64?, config: String, extra: JSON) {
        self.roomID = roomID
        self.sentUpTo = sentUpTo
        self.config = config
        self.extra = extra
    }
}

/// A sliding-sync position the client came back with.
public struct SlidingSyncResumption: Sendable, Equatable {
    /// The stream position its response was built at.
    public var streamPosition: Int64
    /// A digest of the lists as that response gave them (counts and windows).
    public var listsDigest: String

    public init(streamPosition: Int64, listsDigest: String) {
        self.streamPosition = streamPosition
        self.listsDigest = listsDigest
    }
}

/// Sliding-sync connections (MSC4186 "Connections"). A connection is a (user, device,
/// `conn_id`) triple; each response is a position on it. The rooms sent are recorded per
/// position, so a position the client never acknowledged can be dropped whole: a client
/// that sends an earlier `pos` again gets those rooms again.
public protocol SlidingSyncStore: Sendable {
    /// Starts the connection afresh (forgetting what an earlier one with this `conn_id` sent)
    /// and returns its ID. The device keeps at most `keepingAtMost` connections: the least
    /// recently used go.
    func openSlidingSyncConnection(userID: String, deviceID: String, connID: String, now: Int64, keepingAtMost: Int) async throws -> Int64

    /// Takes `pos` of the connection as received by the client and returns what its response
    /// was built at; nil when the connection is not this user's, device's and
    /// `conn_id`'s, was unused since `unusedSince`, or `pos` is no longer kept. Responses
    /// issued after `pos` are dropped (the client never got them); earlier positions are
    /// folded into it.
    func resumeSlidingSyncConnection(
        connectionID: Int64, pos: Int64, userID: String, deviceID: String, connID: String, now: Int64, unusedSince: Int64
    ) async throws -> SlidingSyncResumption?

    /// What the connection has sent of each of `roomIDs`, as of its current position.
    func slidingSyncRooms(connectionID: Int64, roomIDs: [String]) async throws -> [String: SlidingSyncRoomRecord]

    /// Records a new position after `parent` (nil: the first) at `streamPosition`, with the
    /// room records its response changed; returns it.
    func recordSlidingSyncPosition(
        connectionID: Int64, parent: Int64?, streamPosition: Int64, listsDigest: String, rooms: [SlidingSyncRoomRecord]
    ) async throws -> Int64

    /// Every room the user has a membership in and has not forgotten.
    func roomList(userID: String) async throws -> [RoomListEntry]
    /// How many such rooms there are and the latest position among their memberships: when
    /// neither moved, a copy of `roomList` is still right but for bump stamps.
    func roomListSummary(userID: String) async throws -> (count: Int, latestMembership: Int64)
    /// The current bump stamps of `roomIDs` (rooms without one are left out).
    func bumpStamps(roomIDs: [String]) async throws -> [String: Int64]
    /// Current state events of several rooms, only the entries at `keys`.
    func currentStateEvents(roomIDs: [String], keys: [StateKey]) async throws -> [StoredEvent]
    /// Current state events of a room: every entry of `types`, and the entries at `keys`.
    func currentStateEvents(roomID: String, types: [String], keys: [StateKey]) async throws -> [StoredEvent]
    /// The user's account data in `roomIDs`, and global account data when `includingGlobal`.
    func accountData(userID: String, roomIDs: [String], includingGlobal: Bool) async throws -> [AccountDataEntry]
    /// Joined and invited member counts.
    func memberCounts(roomID: String) async throws -> (joined: Int, invited: Int)
    /// Up to `limit` members other than `excluding` to name a room by: joined and invited
    /// ones in the order they arrived, or, when there are none, those who left or were banned.
    func heroes(roomID: String, excluding: String, limit: Int) async throws -> [Membership]
}
