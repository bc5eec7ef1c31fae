import MatrixModel

/// An event as stored: the PDU plus where it sits in the global stream and which state
/// snapshot (the state after it) it belongs to.
public struct StoredEvent: Sendable, Equatable {
    public var pdu: PDU
    public var roomID: String
    public var streamPosition: Int64
    public var stateGroup: Int64
    /// The redaction event that redacted this one; the stored JSON is then already pruned.
    public var redactedBecause: String?
    /// The device and transaction ID it was sent with, echoed to that device only.
    public var senderDevice: String?
    public var transactionID: String?

    public init(
        pdu: PDU, roomID: String, streamPosition: Int64, stateGroup: Int64, redactedBecause: String? = nil,
        senderDevice: String? = nil, transactionID: String? = nil
    ) {
        self.pdu = pdu
        self.roomID = roomID
        self.streamPosition = streamPosition
        self.stateGroup = stateGroup
        self.redactedBecause = redactedBecause
        self.senderDevice = senderDevice
        self.transactionID = transactionID
    }
}

/// One row of the relation index: an event relating to a parent in the same room.
public struct RelationRow: Sendable, Equatable {
    public var eventID: String
    public var parentID: String
    public var relType: String
    public var eventType: String
    public var sender: String
    public var streamPosition: Int64

    public init(eventID: String, parentID: String, relType: String, eventType: String, sender: String, streamPosition: Int64) {
        self.eventID = eventID
        self.parentID = parentID
        self.relType = relType
        self.eventType = eventType
        self.sender = sender
        self.streamPosition = streamPosition
    }
}

/// A room's fixed facts and its head (the single forward extremity: Axon is the only
/// writer of its rooms until federation arrives).
public struct RoomRecord: Sendable, Equatable {
    public var roomID: String
    public var version: RoomVersion
    public var creator: String
    public var isPublic: Bool
    public var latestEventID: String?
    public var latestDepth: Int64
    public var currentStateGroup: Int64?

    public init(
        roomID: String, version: RoomVersion, creator: String, isPublic: Bool = false, latestEventID: String? = nil,
        latestDepth: Int64 = 0, currentStateGroup: Int64? = nil
    ) {
        self.roomID = roomID
        self.version = version
        self.creator = creator
        self.isPublic = isPublic
        self.latestEventID = latestEventID
        self.latestDepth = latestDepth
        self.currentStateGroup = currentStateGroup
    }
}

public struct Membership: Sendable, Equatable {
    public var roomID: String
    public var userID: String
    public var membership: String
    public var eventID: String
    public var streamPosition: Int64
    public var forgotten: Bool
}

/// What a new event was sent with, for idempotency (`PUT .../send/{type}/{txnId}`).
public struct TransactionKey: Sendable, Hashable {
    public var userID: String
    public var deviceID: String
    public var scope: String
    public var transactionID: String

    public init(userID: String, deviceID: String, scope: String, transactionID: String) {
        self.userID = userID
        self.deviceID = deviceID
        self.scope = scope
        self.transactionID = transactionID
    }
}

/// The operations available inside one room write transaction. Everything appended in one
/// `writeRoom` call commits together or not at all, and no other writer touches the room
/// meanwhile, so the state read here is the state the new events are checked against.
public protocol RoomWriteTransaction: Sendable {
    var room: RoomRecord? { get }
    func createRoom(_ record: RoomRecord) async throws
    /// The current state event for a key, including events appended earlier in this transaction.
    func currentStateEvent(_ key: StateKey) async throws -> PDU?
    /// Several current state events in one read.
    func currentStateEvents(_ keys: [StateKey]) async throws -> [StateKey: PDU]
    func eventIDForTransaction(_ key: TransactionKey) async throws -> String?
    /// Persists the event: assigns the next stream position, updates the state snapshot,
    /// current state, memberships and the room head.
    @discardableResult
    func append(_ pdu: PDU, transaction: TransactionKey?) async throws -> StoredEvent
    /// Persists an event placed in the graph by the caller (federation): the state before it,
    /// and the room's new current state when resolution over the extremities decided one.
    @discardableResult
    func append(_ pdu: PDU, placement: EventPlacement) async throws -> StoredEvent
    /// The entries of a snapshot, read inside the transaction.
    func stateEntries(group: Int64) async throws -> StateMap
    /// Stores a whole state as a snapshot (a delta over `near` where possible).
    func snapshot(_ state: StateMap, near parent: Int64?) async throws -> Int64
    /// Keeps an event outside the timeline: an outlier, or one rejected or soft-failed
    /// (never shown to clients, never built on), with its states when they were computed.
    func storeOutlier(_ pdu: PDU, kind: OutlierKind, reason: String?, stateBefore: Int64?, stateAfter: Int64?) async throws
    func event(id: String) async throws -> StoredEvent?
    /// Timeline events and events kept outside it, as of this transaction: what an event
    /// checked later in the same transaction may cite.
    func events(ids: [String]) async throws -> [StoredEvent]
    func outliers(ids: [String]) async throws -> [OutlierEvent]
    /// The room's forward extremities (events nothing builds on yet), deepest first.
    func forwardExtremities() async throws -> [EventReference]
    /// Registers an alias for this room; throws `StorageError.conflict` when it is taken.
    func addAlias(_ alias: String, creator: String) async throws
    /// Replaces a stored event's JSON with its redacted form (and drops it from search and notifications).
    func markRedacted(eventID: String, redactedJSON: JSONObject, by redactionID: String) async throws

    /// Users joined to the room.
    func joinedMembers() async throws -> [String]
    /// Stored push rule documents of those of these users who ever changed their rules.
    func pushRules(for userIDs: [String]) async throws -> [String: JSONObject]
    /// Stores an event of the room's past (the state a join brought, backfilled history): it
    /// takes a negative stream position, so it sorts before everything clients have synced
    /// and never shows up as new, and it changes neither current state nor the extremities.
    /// Returns false when the event was already stored.
    @discardableResult
    func insertHistorical(_ pdu: PDU, stateGroup: Int64) async throws -> Bool
    /// Queues an event for other servers, in the same transaction as the event: a crash after
    /// the commit still sends it.
    func enqueueOutbound(eventID: String, destinations: [String]) async throws
    /// Records who an appended event notifies, in the same transaction as the event.
    func addPushActions(_ records: [PushActionRecord], for event: StoredEvent) async throws
    /// Records the outcome most members share, in the same transaction as the event; the
    /// `excluded` users' own outcomes are stored with `addPushActions`.
    func addSharedPushAction(_ action: SharedPushAction, excluding excluded: [String], for event: StoredEvent) async throws
}

public enum OutlierKind: String, Sendable {
    case outlier
    case rejected
    case softFailed = "soft_failed"
}

/// An event kept outside the timeline.
public struct OutlierEvent: Sendable, Equatable {
    public var pdu: PDU
    public var roomID: String
    public var kind: OutlierKind
    public var reason: String?
    /// The state after it, when known (soft-failed events, and outliers whose state was
    /// fetched to place events built on them).
    public var stateGroup: Int64?

    public init(pdu: PDU, roomID: String, kind: OutlierKind, reason: String?, stateGroup: Int64? = nil) {
        self.pdu = pdu
        self.roomID = roomID
        self.kind = kind
        self.reason = reason
        self.stateGroup = stateGroup
    }
}

/// Where an event goes in the room graph.
public struct EventPlacement: Sendable {
    /// The snapshot of the state before the event; nil only for a create event.
    public var stateBefore: Int64?
    /// The room's current state once the event is in, when resolution over the forward
    /// extremities decided it; nil when the event was built on the current state and simply
    /// advances it.
    public var resolvedCurrentState: StateMap?
    /// Soft-failed events stay out of the extremities, so local sends never build on them.
    public var isForwardExtremity: Bool

    public init(stateBefore: Int64?, resolvedCurrentState: StateMap? = nil, isForwardExtremity: Bool = true) {
        self.stateBefore = stateBefore
        self.resolvedCurrentState = resolvedCurrentState
        self.isForwardExtremity = isForwardExtremity
    }
}

/// An event of the room graph and its depth.
public struct EventReference: Sendable, Equatable {
    public var eventID: String
    public var depth: Int64

    public init(eventID: String, depth: Int64) {
        self.eventID = eventID
        self.depth = depth
    }
}

public struct Direction: Sendable, Equatable {
    public static let forward = Direction(isForward: true)
    public static let backward = Direction(isForward: false)
    public let isForward: Bool
}

/// A position in a room's timeline for `/messages`: depth, then stream position.
public struct TopologicalPosition: Sendable, Comparable, Hashable {
    public var depth: Int64
    public var stream: Int64

    public init(depth: Int64, stream: Int64) {
        self.depth = depth
        self.stream = stream
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.depth, lhs.stream) < (rhs.depth, rhs.stream)
    }
}
