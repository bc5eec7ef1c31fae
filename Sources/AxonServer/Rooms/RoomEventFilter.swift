import AxonStorage
import MatrixModel

/// The `RoomEventFilter` of the spec's filtering section: types, senders, URLs, rooms, limit
/// and lazy loading of members.
struct RoomEventFilter: Sendable {
    var limit: Int?
    var types: [String]?
    var notTypes: [String] = []
    var senders: [String]?
    var notSenders: [String] = []
    var rooms: [String]?
    var notRooms: [String] = []
    var containsURL: Bool?
    var lazyLoadMembers = false
    var includeRedundantMembers = false
    var unreadThreadNotifications = false

    init() {}

    init(_ json: JSON?) throws(MatrixError) {
        guard let json else { return }
        guard case .object = json else { throw MatrixError.badJSON("A filter must be an object") }
        if let limit = json.optional("limit") {
            guard let value = limit.intValue, value >= 0 else { throw MatrixError.badJSON("filter limit must be a non-negative integer") }
            self.limit = Int(min(value, 1000))
        }
        types = try json.boundedStringArray("types")
        notTypes = try json.boundedStringArray("not_types") ?? []
        senders = try json.boundedIDArray("senders", sigil: "@")
        notSenders = try json.boundedIDArray("not_senders", sigil: "@") ?? []
        rooms = try json.boundedIDArray("rooms", sigil: "!")
        notRooms = try json.boundedIDArray("not_rooms", sigil: "!") ?? []
        containsURL = try json.optionalBool("contains_url")
        lazyLoadMembers = try json.optionalBool("lazy_load_members") ?? false
        includeRedundantMembers = try json.optionalBool("include_redundant_members") ?? false
        unreadThreadNotifications = try json.optionalBool("unread_thread_notifications") ?? false
    }

    func allowsRoom(_ roomID: String) -> Bool {
        !notRooms.contains(roomID) && (rooms?.contains(roomID) ?? true)
    }

    func allows(_ pdu: PDU) -> Bool {
        if notTypes.contains(where: { Self.matches(pattern: $0, pdu.type) }) { return false }
        if let types, !types.contains(where: { Self.matches(pattern: $0, pdu.type) }) { return false }
        if notSenders.contains(pdu.sender) { return false }
        if let senders, !senders.contains(pdu.sender) { return false }
        if let containsURL {
            let hasURL = pdu.content["url"]?.stringValue != nil
            if hasURL != containsURL { return false }
        }
        return true
    }

    /// `*` matches any run of characters, as the spec's type filters allow.
    static func matches(pattern: String, _ value: String) -> Bool {
        guard pattern.contains("*") else { return pattern == value }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(value)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if let range = rest.range(of: part) {
                rest = rest[range.upperBound...]
            } else {
                return false
            }
        }
        return rest.isEmpty
    }
}
