import AxonStorage
import MatrixModel

/// Which wire shape a request came in: the one Synapse serves at the unstable prefix (and
/// Element X speaks), or the merged MSC4186 one at `/v4/sync`. One engine serves both.
enum SlidingSyncShape: Sendable {
    case unstable
    case v4
}

/// List filters (MSC4186 `SlidingRoomFilter`). Unset fields filter nothing.
struct RoomListFilters: Equatable, Sendable {
    var isDM: Bool?
    var isEncrypted: Bool?
    var isInvite: Bool?
    /// `.some(nil)` entries stand for rooms without a type.
    var roomTypes: [String?]?
    var notRoomTypes: [String?]?
    var spaces: [String]?
    var roomNameLike: String?
    var tags: [String]?
    var notTags: [String]?

    var needsDirect: Bool { isDM != nil }
    var needsTags: Bool { tags != nil || notTags != nil }
    var needsState: Bool { isEncrypted != nil || roomTypes != nil || notRoomTypes != nil || roomNameLike != nil }
}

struct SlidingListRequest: Sendable {
    var name: String
    /// Inclusive ranges into the filtered list; nil means the whole list.
    var ranges: [ClosedRange<Int>]?
    var config: RoomConfig
    var filters: RoomListFilters
}

/// `lists` and `rooms` of an extension that applies to rooms (account data, receipts,
/// typing): nil means every list (or every subscription), `["*"]` too.
struct ExtensionScope: Sendable {
    var enabled = false
    var lists: [String]?
    var rooms: [String]?
}

struct SlidingExtensionsRequest: Sendable {
    var toDevice = false
    var toDeviceSince: Int64?
    var toDeviceLimit = 100
    var e2ee = false
    var accountData = ExtensionScope()
    var receipts = ExtensionScope()
    var typing = ExtensionScope()
}

struct SlidingSyncRequest: Sendable {
    static let maxLists = 100
    static let maxSubscriptions = 100
    static let maxTimelineLimit = 100

    var shape: SlidingSyncShape
    var connID = ""
    var pos: String?
    var timeoutMilliseconds: Int = 0
    var setPresence: String?
    var lists: [SlidingListRequest] = []
    var subscriptions: [String: RoomConfig] = [:]
    var extensions = SlidingExtensionsRequest()
}

/// Reading both shapes into one `SlidingSyncRequest`. Every malformed field is 400
/// `M_INVALID_PARAM` naming it.
struct SlidingSyncRequestParser {
    let shape: SlidingSyncShape
    /// The requester, for `$ME`.
    let userID: String

    func parse(body: JSON, pos: String?, timeout: Int?, setPresence: String?) throws -> SlidingSyncRequest {
        guard let object = body.objectValue else { throw MatrixError.notJSON("The body must be a JSON object") }
        var request = SlidingSyncRequest(shape: shape)
        request.connID = try optionalString(object["conn_id"], "conn_id") ?? ""
        guard request.connID.utf8.count <= 255 else { throw MatrixError.invalidParam("conn_id is longer than 255 bytes") }
        switch shape {
        case .unstable:
            request.pos = pos
            request.timeoutMilliseconds = timeout ?? 0
            request.setPresence = setPresence
        case .v4:
            request.pos = try optionalString(object["pos"], "pos")
            request.timeoutMilliseconds = Int(try optionalInt(object["timeout"], "timeout") ?? 0)
            request.setPresence = try optionalString(object["set_presence"], "set_presence")
        }
        guard request.timeoutMilliseconds >= 0 else { throw MatrixError.invalidParam("timeout must not be negative") }
        if let presence = request.setPresence, !["online", "offline", "unavailable"].contains(presence) {
            throw MatrixError.invalidParam("set_presence must be online, offline or unavailable")
        }
        let lists = try optionalObject(object["lists"], "lists") ?? [:]
        guard lists.count <= SlidingSyncRequest.maxLists else {
            throw MatrixError.invalidParam("At most \(SlidingSyncRequest.maxLists) lists are allowed")
        }
        for (name, value) in lists {
            guard Self.isOpaqueIdentifier(name) else { throw MatrixError.invalidParam("List name \(name) is not an opaque identifier") }
            request.lists.append(try list(name: name, value))
        }
        let subscriptions = try optionalObject(object["room_subscriptions"], "room_subscriptions") ?? [:]
        guard subscriptions.count <= SlidingSyncRequest.maxSubscriptions else {
            throw MatrixError.invalidParam("At most \(SlidingSyncRequest.maxSubscriptions) room subscriptions are allowed")
        }
        for (roomID, value) in subscriptions {
            guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("\(roomID) is not a room ID") }
            guard let config = value.objectValue else { throw MatrixError.invalidParam("room_subscriptions.\(roomID) must be an object") }
            request.subscriptions[roomID] = try roomConfig(config, at: "room_subscriptions.\(roomID)")
        }
        request.extensions = try extensions(try optionalObject(object["extensions"], "extensions") ?? [:])
        return request
    }

    /// The spec's "opaque identifier" grammar.
    static func isOpaqueIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255
            && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._~".unicodeScalars.contains($0)) }
    }

    private func list(name: String, _ value: JSON) throws -> SlidingListRequest {
        guard let object = value.objectValue else { throw MatrixError.invalidParam("lists.\(name) must be an object") }
        let path = "lists.\(name)"
        var ranges: [ClosedRange<Int>]?
        switch shape {
        case .unstable:
            if let value = object["ranges"] {
                guard let array = value.arrayValue else { throw MatrixError.invalidParam("\(path).ranges must be a list of ranges") }
                ranges = try array.map { try range($0, at: "\(path).ranges") }
            }
        case .v4:
            if let value = object["range"] { ranges = [try range(value, at: "\(path).range")] }
        }
        return SlidingListRequest(
            name: name, ranges: ranges, config: try roomConfig(object, at: path),
            filters: try filters(try optionalObject(object["filters"], "\(path).filters") ?? [:], at: "\(path).filters"))
    }

    private func range(_ value: JSON, at path: String) throws -> ClosedRange<Int> {
        guard let pair = value.arrayValue, pair.count == 2, let low = pair[0].intValue, let high = pair[1].intValue, low >= 0, low <= high,
            high < Int64(Int32.max)
        else { throw MatrixError.invalidParam("\(path) must be [start, end] with 0 <= start <= end") }
        return Int(low)...Int(high)
    }

    private func roomConfig(_ object: JSONObject, at path: String) throws -> RoomConfig {
        let limit = try optionalInt(object["timeline_limit"], "\(path).timeline_limit") ?? 0
        guard limit >= 0 else { throw MatrixError.invalidParam("\(path).timeline_limit must not be negative") }
        return RoomConfig(
            timelineLimit: min(Int(limit), SlidingSyncRequest.maxTimelineLimit),
            requiredState: [try requiredState(object["required_state"], at: "\(path).required_state")])
    }

    private func requiredState(_ value: JSON?, at path: String) throws -> RequiredState {
        guard let value else { return RequiredState() }
        switch shape {
        case .unstable:
            // `[[type, state_key], ...]` with `*` wildcards, `$LAZY` and `$ME`.
            guard let pairs = value.arrayValue else { throw MatrixError.invalidParam("\(path) must be a list of [type, state_key]") }
            var state = RequiredState()
            for pair in pairs {
                guard let parts = pair.arrayValue, parts.count == 2, let type = parts[0].stringValue, let key = parts[1].stringValue else {
                    throw MatrixError.invalidParam("\(path) entries must be [type, state_key]")
                }
                if type == "m.room.member", key == "$LAZY" {
                    state.lazyMembers = true
                    continue
                }
                state.include.append(
                    StateMatcher(type: type == "*" ? nil : type, stateKey: key == "*" ? nil : key == "$ME" ? userID : key))
            }
            return state
        case .v4:
            guard let object = value.objectValue else { throw MatrixError.invalidParam("\(path) must be an object") }
            func elements(_ field: String) throws -> [StateMatcher] {
                guard let list = object[field] else { return [] }
                guard let array = list.arrayValue else { throw MatrixError.invalidParam("\(path).\(field) must be a list") }
                return try array.map { element in
                    guard let entry = element.objectValue else { throw MatrixError.invalidParam("\(path).\(field) entries must be objects") }
                    return StateMatcher(
                        type: try optionalString(entry["type"], "\(path).\(field).type"),
                        stateKey: try optionalString(entry["state_key"], "\(path).\(field).state_key"))
                }
            }
            return RequiredState(
                include: try elements("include"), exclude: try elements("exclude"),
                lazyMembers: try optionalBool(object["lazy_members"], "\(path).lazy_members") ?? false)
        }
    }

    private func filters(_ object: JSONObject, at path: String) throws -> RoomListFilters {
        func strings(_ field: String) throws -> [String]? {
            guard let value = object[field], value != .null else { return nil }
            guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                throw MatrixError.invalidParam("\(path).\(field) must be a list of strings")
            }
            return array.compactMap(\.stringValue)
        }
        func roomTypes(_ field: String) throws -> [String?]? {
            guard let value = object[field], value != .null else { return nil }
            guard let array = value.arrayValue, array.allSatisfy({ $0 == .null || $0.stringValue != nil }) else {
                throw MatrixError.invalidParam("\(path).\(field) must be a list of room types or null")
            }
            return array.map(\.stringValue)
        }
        var filters = RoomListFilters()
        filters.isDM = try optionalBool(object["is_dm"], "\(path).is_dm")
        filters.isEncrypted = try optionalBool(object["is_encrypted"], "\(path).is_encrypted")
        filters.isInvite = try optionalBool(object[shape == .v4 ? "is_invited" : "is_invite"], "\(path).is_invite")
        filters.roomTypes = try roomTypes("room_types")
        filters.notRoomTypes = try roomTypes("not_room_types")
        filters.spaces = try strings("spaces")
        filters.roomNameLike = try optionalString(object["room_name_like"], "\(path).room_name_like")
        filters.tags = try strings("tags")
        filters.notTags = try strings("not_tags")
        return filters
    }

    private func extensions(_ object: JSONObject) throws -> SlidingExtensionsRequest {
        var extensions = SlidingExtensionsRequest()
        if let toDevice = try optionalObject(object["to_device"], "extensions.to_device") {
            extensions.toDevice = try optionalBool(toDevice["enabled"], "extensions.to_device.enabled") ?? false
            if let since = try optionalString(toDevice["since"], "extensions.to_device.since") {
                guard let position = Int64(since), position >= 0 else { throw MatrixError.invalidParam("extensions.to_device.since is not a token") }
                extensions.toDeviceSince = position
            }
            if let limit = try optionalInt(toDevice["limit"], "extensions.to_device.limit") {
                extensions.toDeviceLimit = Int(max(1, min(limit, 1000)))
            }
        }
        if let e2ee = try optionalObject(object["e2ee"], "extensions.e2ee") {
            extensions.e2ee = try optionalBool(e2ee["enabled"], "extensions.e2ee.enabled") ?? false
        }
        extensions.accountData = try scope(object, "account_data")
        extensions.receipts = try scope(object, "receipts")
        extensions.typing = try scope(object, "typing")
        return extensions
    }

    private func scope(_ object: JSONObject, _ name: String) throws -> ExtensionScope {
        guard let config = try optionalObject(object[name], "extensions.\(name)") else { return ExtensionScope() }
        func names(_ field: String) throws -> [String]? {
            guard let value = config[field], value != .null else { return nil }
            guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                throw MatrixError.invalidParam("extensions.\(name).\(field) must be a list of strings")
            }
            return array.compactMap(\.stringValue)
        }
        return ExtensionScope(
            enabled: try optionalBool(config["enabled"], "extensions.\(name).enabled") ?? false, lists: try names("lists"),
            rooms: try names("rooms"))
    }

    private func optionalString(_ value: JSON?, _ name: String) throws -> String? {
        guard let value, value != .null else { return nil }
        guard let string = value.stringValue else { throw MatrixError.invalidParam("\(name) must be a string") }
        return string
    }

    private func optionalInt(_ value: JSON?, _ name: String) throws -> Int64? {
        guard let value, value != .null else { return nil }
        guard let int = value.intValue else { throw MatrixError.invalidParam("\(name) must be an integer") }
        return int
    }

    private func optionalBool(_ value: JSON?, _ name: String) throws -> Bool? {
        guard let value, value != .null else { return nil }
        guard let bool = value.boolValue else { throw MatrixError.invalidParam("\(name) must be a boolean") }
        return bool
    }

    private func optionalObject(_ value: JSON?, _ name: String) throws -> JSONObject? {
        guard let value, value != .null else { return nil }
        guard let object = value.objectValue else { throw MatrixError.invalidParam("\(name) must be an object") }
        return object
    }
}
