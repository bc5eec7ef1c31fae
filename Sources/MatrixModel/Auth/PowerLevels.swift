/// The effective power levels of a room: the `m.room.power_levels` content with the spec's
/// defaults filled in, and (v12) the creators' infinite power, represented as `Int64.max`
/// (power level values are canonical JSON integers, so none can reach it).
public struct PowerLevels: Sendable, Equatable {
    public static let infinite = Int64.max

    public var users: [String: Int64]
    public var usersDefault: Int64
    public var events: [String: Int64]
    public var eventsDefault: Int64
    public var stateDefault: Int64
    public var ban: Int64
    public var kick: Int64
    public var redact: Int64
    public var invite: Int64
    public var notifications: [String: Int64]
    public var creators: Set<String>

    /// - Parameters:
    ///   - content: the current power levels content, or nil when the room has none.
    ///   - create: the room's create event, which names the creators.
    public init(content: JSON?, create: PDU?, version: RoomVersion) {
        let object = content?.objectValue
        func level(_ key: String, _ fallback: Int64) -> Int64 { object?[key].flatMap { Self.integer($0, version: version) } ?? fallback }
        func map(_ key: String) -> [String: Int64] {
            var result: [String: Int64] = [:]
            for (name, value) in object?[key]?.objectValue ?? [:] {
                if let number = Self.integer(value, version: version) { result[name] = number }
            }
            return result
        }
        users = map("users")
        usersDefault = level("users_default", 0)
        events = map("events")
        eventsDefault = level("events_default", 0)
        // Without a power levels event, state needs 0; with one, 50 unless it says otherwise.
        stateDefault = level("state_default", object == nil ? 0 : 50)
        ban = level("ban", 50)
        kick = level("kick", 50)
        redact = level("redact", 50)
        invite = level("invite", 0)
        notifications = map("notifications")
        if notifications["room"] == nil { notifications["room"] = 50 }
        creators = PowerLevels.creators(of: create)
        if !version.creatorsHaveInfinitePower, object == nil, let creator = create?.sender {
            // Before v12, the creator has 100 until a power levels event exists.
            users[creator] = 100
        }
        if !version.creatorsHaveInfinitePower { creators = [] }
    }

    /// A power level value as the room version reads it: an integer; before v10 also a
    /// string of one (spec "m.room.power_levels events accept values as strings": optional
    /// whitespace, one sign, decimal digits); before v6 also a float, truncated.
    public static func integer(_ value: JSON, version: RoomVersion) -> Int64? {
        if let number = value.intValue { return number }
        if !version.integerOnlyPowerLevels, let text = value.stringValue {
            var trimmed = Substring(text).drop { $0.isWhitespace }
            while let last = trimmed.last, last.isWhitespace { trimmed = trimmed.dropLast() }
            var negative = false
            if let sign = trimmed.first, sign == "+" || sign == "-" {
                negative = sign == "-"
                trimmed = trimmed.dropFirst()
            }
            guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let digits = trimmed.drop { $0 == "0" }
            guard digits.count <= 18, let magnitude = Int64(digits.isEmpty ? "0" : String(digits)) else { return nil }
            return negative ? -magnitude : magnitude
        }
        if version.allowsFloatPowerLevels, case .double(let double) = value, double.isFinite,
            abs(double) < 9.2e18
        {
            return Int64(double.rounded(.towardZero))
        }
        return nil
    }

    /// v12 creators: the create event's sender plus `additional_creators`.
    public static func creators(of create: PDU?) -> Set<String> {
        guard let create else { return [] }
        var creators: Set<String> = [create.sender]
        for value in create.content["additional_creators"]?.arrayValue ?? [] {
            if let user = value.stringValue { creators.insert(user) }
        }
        return creators
    }

    public func userLevel(_ userID: String) -> Int64 {
        if creators.contains(userID) { return PowerLevels.infinite }
        return users[userID] ?? usersDefault
    }

    public func requiredLevel(eventType: String, isState: Bool) -> Int64 {
        events[eventType] ?? (isState ? stateDefault : eventsDefault)
    }
}
