/// What push conditions need to know beyond the event itself.
public struct PushEvaluationContext: Sendable {
    public var userID: String
    /// The user's display name in the room, for the deprecated `contains_display_name`.
    public var displayName: String?
    /// Joined members of the room.
    public var memberCount: Int
    public var senderPowerLevel: Int64
    /// The room's `notifications` power levels (`room` defaults to 50).
    public var notificationLevels: [String: Int64]

    public init(userID: String, displayName: String?, memberCount: Int, senderPowerLevel: Int64, notificationLevels: [String: Int64]) {
        self.userID = userID
        self.displayName = displayName
        self.memberCount = memberCount
        self.senderPowerLevel = senderPowerLevel
        self.notificationLevels = notificationLevels
    }
}

enum PushConditions {
    /// Every condition must hold; an unrecognised condition never matches (spec "Conditions").
    static func allMatch(_ conditions: [JSON], event: JSONObject, context: PushEvaluationContext) -> Bool {
        conditions.allSatisfy { matches($0, event: event, context: context) }
    }

    static func matches(_ condition: JSON, event: JSONObject, context: PushEvaluationContext) -> Bool {
        switch condition["kind"]?.stringValue {
        case "event_match":
            guard let key = condition["key"]?.stringValue, let pattern = condition["pattern"]?.stringValue,
                let value = PropertyPath.value(at: key, in: event)?.stringValue
            else { return false }
            return key == "content.body"
                ? GlobPattern(pattern).matchesWords(in: value) : GlobPattern(pattern).matchesWhole(value)
        case "event_property_is":
            guard let key = condition["key"]?.stringValue, let expected = condition["value"], isScalar(expected),
                let value = PropertyPath.value(at: key, in: event), isScalar(value)
            else { return false }
            return value == expected
        case "event_property_contains":
            guard let key = condition["key"]?.stringValue, let expected = condition["value"], isScalar(expected),
                let values = PropertyPath.value(at: key, in: event)?.arrayValue
            else { return false }
            return values.contains { isScalar($0) && $0 == expected }
        case "contains_display_name":
            guard let name = context.displayName, !name.isEmpty, let body = event["content"]?["body"]?.stringValue else { return false }
            return GlobPattern(literal: name).matchesWords(in: body)
        case "room_member_count":
            guard let spec = condition["is"]?.stringValue, let comparison = MemberCountComparison(spec) else { return false }
            return comparison.holds(context.memberCount)
        case "sender_notification_permission":
            guard let key = condition["key"]?.stringValue else { return false }
            return context.senderPowerLevel >= context.notificationLevels[key, default: 50]
        default:
            return false
        }
    }

    /// Strings, integers, booleans and null: the only values these conditions compare.
    private static func isScalar(_ value: JSON) -> Bool {
        switch value {
        case .string, .int, .bool, .null: return true
        case .double, .array, .object: return false
        }
    }
}

/// `room_member_count`'s `is`: a decimal integer with an optional `==`, `<`, `>`, `<=`, `>=` prefix.
struct MemberCountComparison {
    let holds: (Int) -> Bool

    init?(_ spec: String) {
        let prefixes: [(String, (Int, Int) -> Bool)] = [("==", (==)), ("<=", (<=)), (">=", (>=)), ("<", (<)), (">", (>))]
        var rest = Substring(spec)
        var compare: (Int, Int) -> Bool = (==)
        for (prefix, operation) in prefixes where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            compare = operation
            break
        }
        guard !rest.isEmpty, rest.allSatisfy(\.isASCII), rest.allSatisfy(\.isNumber), let number = Int(rest) else { return nil }
        holds = { compare($0, number) }
    }
}

/// Dot-separated property paths (appendix), used by push conditions and filters'
/// `event_fields`: `.` separates keys, `\.` is a literal dot and `\\` a literal backslash.
public enum PropertyPath {
    public static func components(_ path: String) -> [String] {
        var components: [String] = []
        var current = ""
        var escaping = false
        for character in path {
            if escaping {
                current.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "." {
                components.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaping { current.append("\\") }
        components.append(current)
        return components
    }

    public static func value(at path: String, in event: JSONObject) -> JSON? {
        value(at: components(path), in: event)
    }

    public static func value(at components: [String], in event: JSONObject) -> JSON? {
        var value: JSON? = .object(event)
        for key in components {
            value = value?.objectValue?[key]
        }
        return value
    }
}

/// Glob-style matching (appendix): `*` is any run of characters, `?` exactly one; compared
/// case-insensitively. Runs as one pass of a small NFA, so a hostile pattern or a long body
/// costs at most (text length × pattern length) steps.
struct GlobPattern {
    private enum Token: Equatable {
        case character(Character)
        case any
        case anyRun
    }

    private let tokens: [Token]

    init(_ pattern: String) {
        tokens = pattern.lowercased().map { $0 == "*" ? .anyRun : $0 == "?" ? .any : .character($0) }
    }

    init(literal: String) {
        tokens = literal.lowercased().map { .character($0) }
    }

    func matchesWhole(_ text: String) -> Bool {
        let characters = Array(text.lowercased())
        return run(characters, startsAt: { $0 == 0 }, endsAt: { $0 == characters.count })
    }

    /// The `content.body` rule: the match must start and end at word boundaries, a boundary
    /// being the text's start or end or any character outside `[A-Za-z0-9_]`.
    func matchesWords(in text: String) -> Bool {
        let characters = Array(text.lowercased())
        func isWord(_ character: Character) -> Bool {
            character == "_" || (character.isASCII && (character.isLetter || character.isNumber))
        }
        return run(
            characters,
            startsAt: { $0 == 0 || !isWord(characters[$0 - 1]) },
            endsAt: { $0 == characters.count || !isWord(characters[$0]) })
    }

    private func run(_ text: [Character], startsAt: (Int) -> Bool, endsAt: (Int) -> Bool) -> Bool {
        var states = [Bool](repeating: false, count: tokens.count + 1)
        for position in 0...text.count {
            if startsAt(position) { states[0] = true }
            closeOverRuns(&states)
            if states[tokens.count], endsAt(position) { return true }
            guard position < text.count else { break }
            var next = [Bool](repeating: false, count: tokens.count + 1)
            for (index, token) in tokens.enumerated() where states[index] {
                switch token {
                case .anyRun: next[index] = true
                case .any: next[index + 1] = true
                case .character(let expected): if expected == text[position] { next[index + 1] = true }
                }
            }
            states = next
        }
        return false
    }

    /// `*` may match nothing, so a state before it is also a state after it.
    private func closeOverRuns(_ states: inout [Bool]) {
        for (index, token) in tokens.enumerated() where token == .anyRun && states[index] {
            states[index + 1] = true
        }
    }
}
