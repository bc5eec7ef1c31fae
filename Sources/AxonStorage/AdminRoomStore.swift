import MatrixModel

/// What `GET /_synapse/admin/v1/rooms` may ask for.
public struct RoomListQuery: Sendable, Equatable {
    /// Synapse's sort orders. Counts, versions and flags sort largest first, names A to Z;
    /// `descending` reverses either.
    public enum Order: String, Sendable, CaseIterable {
        case name, canonicalAlias = "canonical_alias", joinedMembers = "joined_members"
        case joinedLocalMembers = "joined_local_members", version, creator, encryption, federatable
        case isPublic = "public", joinRules = "join_rules", guestAccess = "guest_access"
        case historyVisibility = "history_visibility", stateEvents = "state_events"

        /// Synapse's deprecated names for two of them.
        public init?(synapseName: String) {
            switch synapseName {
            case "alphabetical": self = .name
            case "size": self = .joinedMembers
            default: self.init(rawValue: synapseName)
            }
        }

        var column: String {
            switch self {
            case .name: "name"
            case .canonicalAlias: "canonical_alias"
            case .joinedMembers: "joined_members"
            case .joinedLocalMembers: "joined_local_members"
            case .version: "version"
            case .creator: "creator"
            case .encryption: "encryption"
            case .federatable: "federatable"
            case .isPublic: "is_public"
            case .joinRules: "join_rules"
            case .guestAccess: "guest_access"
            case .historyVisibility: "history_visibility"
            case .stateEvents: "state_events"
            }
        }

        var largestFirst: Bool {
            [.joinedMembers, .joinedLocalMembers, .version, .stateEvents, .federatable, .isPublic].contains(self)
        }

        /// The ORDER BY clause, the same on both backends: rooms without the value last,
        /// versions by number ("12" after "9"), ties broken by room ID so pages never overlap.
        func clause(descending: Bool) -> String {
            let direction = largestFirst != descending ? "DESC" : "ASC"
            let key = self == .version ? "length(version) \(direction), version" : column
            return "ORDER BY \(column) IS NULL, \(key) \(direction), room_id \(direction)"
        }
    }

    public var from = 0
    public var limit = 100
    public var order: Order = .name
    public var descending = false
    /// Part of the name or of the canonical alias's localpart, or the whole room ID.
    public var searchTerm: String?
    /// Nil: both; true: only rooms in the directory; false: only rooms not in it.
    public var publicRooms: Bool?
    /// Nil: both; true: only rooms no one is joined to; false: only rooms someone is in.
    public var emptyRooms: Bool?

    public init() {}
}

/// A room as the admin room list shows it, read from its current state.
public struct RoomSummary: Sendable, Equatable {
    public var roomID: String
    public var name: String?
    public var canonicalAlias: String?
    public var joinedMembers: Int
    public var joinedLocalMembers: Int
    public var version: String
    public var creator: String
    public var encryption: String?
    public var federatable: Bool
    public var isPublic: Bool
    public var joinRules: String?
    public var guestAccess: String?
    public var historyVisibility: String?
    public var stateEvents: Int
    public var roomType: String?

    public init(
        roomID: String, name: String?, canonicalAlias: String?, joinedMembers: Int, joinedLocalMembers: Int, version: String,
        creator: String, encryption: String?, federatable: Bool, isPublic: Bool, joinRules: String?, guestAccess: String?,
        historyVisibility: String?, stateEvents: Int, roomType: String?
    ) {
        self.roomID = roomID
        self.name = name
        self.canonicalAlias = canonicalAlias
        self.joinedMembers = joinedMembers
        self.joinedLocalMembers = joinedLocalMembers
        self.version = version
        self.creator = creator
        self.encryption = encryption
        self.federatable = federatable
        self.isPublic = isPublic
        self.joinRules = joinRules
        self.guestAccess = guestAccess
        self.historyVisibility = historyVisibility
        self.stateEvents = stateEvents
        self.roomType = roomType
    }
}

/// Server administration over rooms.
public protocol AdminRoomStore: Sendable {
    /// One page of matching rooms, and how many match in all. `localServer` decides which
    /// members count as local.
    func listRooms(_ query: RoomListQuery, localServer: String) async throws -> (rooms: [RoomSummary], total: Int)
    /// Who blocked the room, when it is blocked. A blocked room may be unknown here.
    func roomBlock(roomID: String) async throws -> String?
    /// Blocks the room in the name of `by`, or lifts the block when nil.
    func setRoomBlock(roomID: String, by: String?) async throws
    /// Drops every forward extremity but `keeping`; the number dropped.
    func deleteForwardExtremities(roomID: String, keeping: String) async throws -> Int
    /// Deletes the room's timeline events (not state, not forward extremities) before the
    /// stream position, other servers' only unless `includeLocal`; the number deleted.
    func purgeHistory(roomID: String, before stream: Int64, localServer: String, includeLocal: Bool) async throws -> Int
}

/// The tables that hold rows of one timeline event, by `event_id`, cleared with it.
let perEventTables = [
    "event_relations", "event_search", "event_push_actions", "room_push_actions", "push_action_exclusions", "event_edges", "event_transactions", "events",
]

/// The tables that hold rows of one room, by `room_id`, cleared when the room is purged
/// (after `event_transactions`, which is keyed by event).
let perRoomTables = [
    "event_relations", "event_search", "event_push_actions", "room_push_actions", "push_action_exclusions", "receipts", "events",
    "current_state", "room_memberships", "room_aliases", "event_edges", "forward_extremities", "event_outliers", "typing",
    "lazy_members_sent", "rooms",
]

/// The state values the room list shows, each one `(column, event type, content path)`.
/// Both backends read them from the events in the room's current state.
let roomSummaryStateColumns: [(column: String, type: String, key: String)] = [
    ("name", "m.room.name", "name"), ("canonical_alias", "m.room.canonical_alias", "alias"),
    ("encryption", "m.room.encryption", "algorithm"), ("join_rules", "m.room.join_rules", "join_rule"),
    ("guest_access", "m.room.guest_access", "guest_access"),
    ("history_visibility", "m.room.history_visibility", "history_visibility"), ("room_type", "m.room.create", "type"),
]

/// A room deletion or history purge an admin started: it runs after the request answers,
/// and its status stays readable (and survives a restart) by its ID.
public struct AdminRoomTask: Sendable, Equatable {
    public enum Kind: String, Sendable { case delete, purgeHistory = "purge_history", redactUser = "redact_user" }

    public var id: String
    public var kind: Kind
    public var roomID: String
    /// Synapse's words: `shutting_down`, `purging`, `active`, `complete`, `failed`.
    public var status: String
    public var error: String?
    /// What the task did (for a deletion, Synapse's `shutdown_room` object).
    public var result: JSONObject?
    public var createdAt: Int64

    public init(id: String, kind: Kind, roomID: String, status: String, error: String? = nil, result: JSONObject? = nil, createdAt: Int64) {
        self.id = id
        self.kind = kind
        self.roomID = roomID
        self.status = status
        self.error = error
        self.result = result
        self.createdAt = createdAt
    }
}

public protocol AdminRoomTaskStore: Sendable {
    /// Inserts the task or replaces the one with its ID.
    func saveAdminRoomTask(_ task: AdminRoomTask) async throws
    func adminRoomTask(id: String) async throws -> AdminRoomTask?
    /// The room's tasks of that kind, newest first.
    func adminRoomTasks(roomID: String, kind: AdminRoomTask.Kind) async throws -> [AdminRoomTask]
    /// Tasks neither complete nor failed, oldest first: those a stop interrupted.
    func unfinishedAdminRoomTasks() async throws -> [AdminRoomTask]
}
