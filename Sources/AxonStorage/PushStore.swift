import MatrixModel

/// The outcome of push rules for one user and one event that notifies them.
public struct PushActionRecord: Sendable, Equatable {
    public var userID: String
    public var eventID: String
    /// `main` for the main timeline, else the thread root's event ID.
    public var threadID: String
    public var highlight: Bool
    public var actions: JSON

    public init(userID: String, eventID: String, threadID: String, highlight: Bool, actions: JSON) {
        self.userID = userID
        self.eventID = eventID
        self.threadID = threadID
        self.highlight = highlight
        self.actions = actions
    }
}

/// One outcome of push rules shared by every local member joined when the event arrived,
/// except its sender and the users listed as excluded (whose own outcome differs and, when
/// it notifies, is a `PushActionRecord`). A message in a big room is one row, not one per
/// member: counting reads the room's shared rows after the reader's receipt, and a member
/// counts a row only when joined since before it (`room_memberships.joined_at`).
public struct SharedPushAction: Sendable, Equatable {
    public var threadID: String
    public var highlight: Bool
    public var actions: JSON

    public init(threadID: String, highlight: Bool, actions: JSON) {
        self.threadID = threadID
        self.highlight = highlight
        self.actions = actions
    }
}

/// When a shared row `s` reaches the member row `m` of its room (both dialects): `m` is joined
/// since before the event, did not send it, and was not excluded from it.
let sharedActionReachesMember = """
    m.membership = 'join' AND m.joined_at < s.stream_ordering AND m.user_id != s.sender
    AND NOT EXISTS (SELECT 1 FROM push_action_exclusions x WHERE x.event_id = s.event_id AND x.user_id = m.user_id)
    """

/// The membership upsert's `joined_at`: the position a member's current join began. A
/// join after a join (a profile change) keeps it; any other change starts it again.
let keepJoinStartOnRejoin = """
    joined_at = CASE WHEN room_memberships.membership = 'join' AND excluded.membership = 'join'
        THEN room_memberships.joined_at ELSE excluded.joined_at END
    """

/// Unread notifications of one user in one room and thread.
public struct NotificationCount: Sendable, Equatable {
    public var threadID: String
    public var notifications: Int
    public var highlights: Int
}

/// One entry of `GET /notifications`.
public struct StoredNotification: Sendable {
    public var event: StoredEvent
    public var actions: JSON
    public var read: Bool
}

public struct Pusher: Sendable, Equatable {
    public var userID: String
    public var appID: String
    public var pushkey: String
    public var kind: String
    public var appDisplayName: String
    public var deviceDisplayName: String
    public var profileTag: String?
    public var lang: String
    public var data: JSON
    /// The device whose access token created it; deleting the device deletes the pusher.
    public var deviceID: String?
    public var createdAt: Int64

    public init(
        userID: String, appID: String, pushkey: String, kind: String, appDisplayName: String, deviceDisplayName: String,
        profileTag: String?, lang: String, data: JSON, deviceID: String?, createdAt: Int64
    ) {
        self.userID = userID
        self.appID = appID
        self.pushkey = pushkey
        self.kind = kind
        self.appDisplayName = appDisplayName
        self.deviceDisplayName = deviceDisplayName
        self.profileTag = profileTag
        self.lang = lang
        self.data = data
        self.deviceID = deviceID
        self.createdAt = createdAt
    }
}

/// A notification due at a pusher: what the push rules decided, and where to send it.
public struct PushDelivery: Sendable {
    public var action: PushActionRecord
    public var pusher: Pusher
}

/// Push rules, the notifications they produce, and pushers.
public protocol PushStore: Sendable {
    /// The user's stored push rule changes (`PushRuleSet.document`), nil when never changed.
    func pushRules(userID: String) async throws -> JSONObject?
    /// The stored documents of several users at once (users who never changed a rule are absent).
    func pushRules(for userIDs: [String]) async throws -> [String: JSONObject]
    /// Reads, changes and writes the user's rules in one transaction; `change` returns the
    /// new stored document and the full rules, which become `m.push_rules` account data at a
    /// new stream position (returned).
    func updatePushRules(
        userID: String, _ change: @escaping @Sendable (JSONObject?) throws -> (document: JSONObject, rules: JSON)
    ) async throws -> Int64

    /// Unread notifications per thread in a room: those after the user's latest `m.read` or
    /// `m.read.private` receipt (unthreaded, or of the same thread) and after their own latest event.
    func notificationCounts(userID: String, roomID: String) async throws -> [NotificationCount]
    /// Notifications newest first, before a stream position when given.
    func notifications(userID: String, before: Int64?, limit: Int, highlightsOnly: Bool) async throws -> [StoredNotification]
    /// Who to push an event to: its notifications whose users have pushers.
    func pushDeliveries(eventID: String) async throws -> [PushDelivery]

    func pushers(userID: String) async throws -> [Pusher]
    /// Adds or replaces the user's pusher for (app ID, pushkey). Unless `append`, the same
    /// app ID and pushkey are removed from every other user.
    func setPusher(_ pusher: Pusher, append: Bool) async throws
    func deletePusher(userID: String, appID: String, pushkey: String) async throws
}

/// Texts the search index holds: message bodies, room names and topics.
public enum SearchIndex {
    public static let keys = ["content.body", "content.name", "content.topic"]

    static func entries(_ pdu: PDU) -> [(key: String, value: String)] {
        let field: String
        switch pdu.type {
        case "m.room.message": field = "body"
        case "m.room.name": field = "name"
        case "m.room.topic": field = "topic"
        default: return []
        }
        guard let value = pdu.content[field]?.stringValue, !value.isEmpty else { return [] }
        return [("content." + field, value)]
    }

    /// The words of a search term, lowercased, for both backends' prefix queries.
    public static func words(_ term: String) -> [String] {
        term.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }
}

public enum SearchOrder: Sendable {
    case rank
    case recent
}

public struct SearchQuery: Sendable {
    public var words: [String]
    public var roomIDs: [String]
    public var keys: [String]
    public var order: SearchOrder
    /// For `rank`, how many results to skip; for `recent`, return events before this position.
    public var offset: Int
    public var before: Int64?
    public var limit: Int

    public init(words: [String], roomIDs: [String], keys: [String], order: SearchOrder, offset: Int, before: Int64?, limit: Int) {
        self.words = words
        self.roomIDs = roomIDs
        self.keys = keys
        self.order = order
        self.offset = offset
        self.before = before
        self.limit = limit
    }
}

public struct SearchHit: Sendable {
    public var event: StoredEvent
    /// Higher is better.
    public var rank: Double
}

public protocol SearchStore: Sendable {
    func search(_ query: SearchQuery) async throws -> (hits: [SearchHit], count: Int)
}
