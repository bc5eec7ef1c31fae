/// A persistent data unit: the full, signed event as servers exchange it. The JSON is the
/// source of truth; the accessors read it. Event IDs are derived from the reference hash
/// (room v3+) and are not part of the JSON, or carried as `event_id` (v1, v2).
public struct PDU: Sendable, Equatable {
    public let eventID: String
    public let json: JSONObject

    public init(eventID: String, json: JSONObject) {
        self.eventID = eventID
        self.json = json
    }

    public var type: String { json["type"]?.stringValue ?? "" }
    public var stateKey: String? { json["state_key"]?.stringValue }
    public var isState: Bool { stateKey != nil }
    public var sender: String { json["sender"]?.stringValue ?? "" }
    /// Absent on v12 create events; use `RoomVersion`-aware helpers where that matters.
    public var roomID: String? { json["room_id"]?.stringValue }
    public var content: JSON { json["content"] ?? .object([:]) }
    public var originServerTS: Int64 { json["origin_server_ts"]?.intValue ?? 0 }
    public var depth: Int64 { json["depth"]?.intValue ?? 0 }
    public var prevEvents: [String] { Self.eventReferences(json["prev_events"]) }
    public var authEvents: [String] { Self.eventReferences(json["auth_events"]) }

    /// Event IDs of `prev_events`/`auth_events`: strings (v3+), or `[event_id, hashes]` pairs
    /// (v1, v2).
    static func eventReferences(_ value: JSON?) -> [String] {
        (value?.arrayValue ?? []).compactMap { $0.stringValue ?? $0.arrayValue?.first?.stringValue }
    }
    public var membership: String? { type == "m.room.member" ? content["membership"]?.stringValue : nil }

    /// The event a redaction targets, wherever the room version keeps it.
    public var redacts: String? {
        guard type == "m.room.redaction" else { return nil }
        return content["redacts"]?.stringValue ?? json["redacts"]?.stringValue
    }
}

/// A (type, state_key) pair, the key of room state.
public struct StateKey: Hashable, Sendable, CustomStringConvertible {
    public let type: String
    public let stateKey: String

    public init(_ type: String, _ stateKey: String) {
        self.type = type
        self.stateKey = stateKey
    }

    public var description: String { "(\(type), \(stateKey))" }

    public static let create = StateKey("m.room.create", "")
    public static let powerLevels = StateKey("m.room.power_levels", "")
    public static let joinRules = StateKey("m.room.join_rules", "")
    public static let historyVisibility = StateKey("m.room.history_visibility", "")
    public static func member(_ userID: String) -> StateKey { StateKey("m.room.member", userID) }
}
