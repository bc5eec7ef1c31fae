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

/// `room_member_count`'s `is`: a decimal integer with an optional `==`, `<`, `>`, `<=`, `>=` prefix.
struct MemberCountComparison: Sendable {
    private enum Operator: String, CaseIterable {
        // Two-character prefixes first, so `<=` is not read as `<`.
        case equal = "==", atMost = "<=", atLeast = ">=", below = "<", above = ">"
    }

    private let operation: Operator
    private let number: Int

    init?(_ spec: String) {
        var rest = Substring(spec)
        var operation = Operator.equal
        for candidate in Operator.allCases where rest.hasPrefix(candidate.rawValue) {
            rest = rest.dropFirst(candidate.rawValue.count)
            operation = candidate
            break
        }
        guard !rest.isEmpty, rest.allSatisfy(\.isASCII), rest.allSatisfy(\.isNumber), let number = Int(rest) else { return nil }
        self.operation = operation
        self.number = number
    }

    func holds(_ count: Int) -> Bool {
        switch operation {
        case .equal: count == number
        case .atMost: count <= number
        case .atLeast: count >= number
        case .below: count < number
        case .above: count > number
        }
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
    /// The pattern itself when it has no wildcards and is ASCII: then a whole-value match is
    /// a case-insensitive comparison, the common case (`type` is `m.room.message`).
    private let asciiLiteral: [UInt8]?

    init(_ pattern: String) {
        tokens = pattern.lowercased().map { $0 == "*" ? .anyRun : $0 == "?" ? .any : .character($0) }
        asciiLiteral = pattern.utf8.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "*") && $0 != UInt8(ascii: "?") })
            ? Array(pattern.lowercased().utf8) : nil
    }

    init(literal: String) {
        tokens = literal.lowercased().map { .character($0) }
        asciiLiteral = nil
    }

    /// Whether the pattern has wildcards; without them a word match is a plain search.
    private var isLiteral: Bool { !tokens.contains { $0 == .any || $0 == .anyRun } }

    /// An upper bound of the steps a match against `text` takes: the NFA visits every
    /// (position, token) pair; a literal word search and an ASCII comparison visit about
    /// every position.
    func cost(_ text: String, words: Bool) -> Int {
        let length = text.utf8.count + 1
        if asciiLiteral != nil || (words && isLiteral) { return length }
        let (product, overflow) = length.multipliedReportingOverflow(by: tokens.count + 1)
        return overflow ? .max : product
    }

    func matchesWhole(_ text: String) -> Bool {
        if let asciiLiteral {
            var utf8 = text.utf8.makeIterator()
            for expected in asciiLiteral {
                guard let byte = utf8.next(), byte < 0x80 else { return false }
                let lowered = (0x41...0x5A).contains(byte) ? byte + 0x20 : byte
                guard lowered == expected else { return false }
            }
            return utf8.next() == nil
        }
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
        if isLiteral {
            // Display names and plain words: a search, checking the boundaries at each hit.
            let literal = tokens.compactMap { token -> Character? in if case .character(let c) = token { return c } else { return nil } }
            guard !literal.isEmpty else { return true }
            // Knuth-Morris-Pratt, so a hostile text costs a linear scan, not text × pattern.
            var fallback = [0]
            var length = 0
            for index in 1..<max(literal.count, 1) {
                while length > 0, literal[index] != literal[length] { length = fallback[length - 1] }
                if literal[index] == literal[length] { length += 1 }
                fallback.append(length)
            }
            var matched = 0
            for (index, character) in characters.enumerated() {
                while matched > 0, character != literal[matched] { matched = fallback[matched - 1] }
                if character == literal[matched] { matched += 1 }
                guard matched == literal.count else { continue }
                let start = index + 1 - literal.count
                if (start == 0 || !isWord(characters[start - 1])) && (index + 1 == characters.count || !isWord(characters[index + 1])) {
                    return true
                }
                matched = fallback[matched - 1]
            }
            return false
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
