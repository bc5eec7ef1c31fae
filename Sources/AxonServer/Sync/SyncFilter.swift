import AxonStorage
import MatrixModel

/// The spec's `Filter` (filter.yaml): what a `/sync` response contains.
struct SyncFilter: Sendable {
    var eventFields: [String]?
    var federationFormat = false
    var accountData = RoomEventFilter()
    var presence = RoomEventFilter()
    var rooms: [String]?
    var notRooms: [String] = []
    var includeLeave = false
    var timeline = RoomEventFilter()
    var state = RoomEventFilter()
    var ephemeral = RoomEventFilter()
    var roomAccountData = RoomEventFilter()

    init() {}

    /// Bounds on what a user may make the server evaluate for every event of every sync.
    static let maxStoredBytes = 16 * 1024
    static let maxStoredPerUser = 100
    static let maxListLength = 500

    init(_ json: JSON) throws(MatrixError) {
        guard case .object = json else { throw MatrixError.badJSON("A filter must be a JSON object") }
        eventFields = try json.boundedStringArray("event_fields")
        if let format = try json.optionalString("event_format") {
            guard format == "client" || format == "federation" else { throw MatrixError.badJSON("event_format must be client or federation") }
            federationFormat = format == "federation"
        }
        accountData = try RoomEventFilter(json.optional("account_data"))
        presence = try RoomEventFilter(json.optional("presence"))
        if let room = try json.optionalObject("room") {
            rooms = try room.boundedIDArray("rooms", sigil: "!")
            notRooms = try room.boundedIDArray("not_rooms", sigil: "!") ?? []
            includeLeave = try room.optionalBool("include_leave") ?? false
            timeline = try RoomEventFilter(room.optional("timeline"))
            state = try RoomEventFilter(room.optional("state"))
            ephemeral = try RoomEventFilter(room.optional("ephemeral"))
            roomAccountData = try RoomEventFilter(room.optional("account_data"))
        }
    }

    func allowsRoom(_ roomID: String) -> Bool {
        !notRooms.contains(roomID) && (rooms?.contains(roomID) ?? true)
    }

    /// Applies `event_fields` (dot-separated paths, `\.` for a literal dot) and `event_format`.
    func format(_ event: JSON, pdu: PDU) -> JSON {
        var event = federationFormat ? .object(pdu.json) : event
        if federationFormat { event["event_id"] = .string(pdu.eventID) }
        guard let eventFields else { return event }
        var kept = JSONObject()
        for field in eventFields {
            let path = PropertyPath.components(field)
            guard let object = event.objectValue, let value = PropertyPath.value(at: path, in: object) else { continue }
            kept = Self.setting(kept, path[...], value)
        }
        return .object(kept)
    }

    private static func setting(_ object: JSONObject, _ path: ArraySlice<String>, _ value: JSON) -> JSONObject {
        var object = object
        guard let key = path.first else { return object }
        if path.count == 1 {
            object[key] = value
        } else {
            object[key] = .object(setting(object[key]?.objectValue ?? [:], path.dropFirst(), value))
        }
        return object
    }
}

extension JSON {
    /// A filter's list, at most `SyncFilter.maxListLength` long.
    func boundedStringArray(_ key: String) throws(MatrixError) -> [String]? {
        let list = try optionalStringArray(key)
        if let list, list.count > SyncFilter.maxListLength {
            throw MatrixError.invalidParam("'\(key)' may list at most \(SyncFilter.maxListLength) entries")
        }
        return list
    }

    /// A filter's list of room (`!`) or user (`@`) IDs, refused as the spec's schema does
    /// when an entry is something else.
    func boundedIDArray(_ key: String, sigil: Character) throws(MatrixError) -> [String]? {
        let list = try boundedStringArray(key)
        if let bad = list?.first(where: { $0.first != sigil }) {
            throw MatrixError.badJSON("'\(key)' lists '\(bad)', which is not a \(sigil == "!" ? "room" : "user") ID")
        }
        return list
    }
}
