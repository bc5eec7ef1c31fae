/// Push rules turned into matchers once, so evaluating an event for every member of a big
/// room does no JSON building, path splitting or pattern parsing per member. The server
/// defaults are compiled once for everybody: the two conditions that name the user refer to
/// "the user being evaluated" instead of a fixed ID.
struct CompiledPushRule: Sendable {
    enum Matcher: Sendable {
        case conditions([Condition])
        case content(GlobPattern)
        case room(String)
        case sender(String)
    }

    enum Condition: Sendable {
        case eventMatch(path: [String], pattern: GlobPattern, isBody: Bool)
        /// `event_match` whose pattern is the user's own ID (`.m.rule.invite_for_me`).
        case eventMatchesUser(path: [String])
        case propertyIs(path: [String], value: JSON)
        case propertyContains(path: [String], value: JSON)
        /// `event_property_contains` of the user's own ID (`.m.rule.is_user_mention`).
        case propertyContainsUser(path: [String])
        case displayName
        case memberCount(MemberCountComparison)
        case senderPermission(String)
        /// Unrecognised or malformed: never matches (spec "Conditions").
        case never
    }

    let ruleID: String
    var enabled: Bool
    var actions: PushActions
    let matcher: Matcher

    init(_ rule: PushRule, userPlaceholder: String? = nil) {
        ruleID = rule.ruleID
        enabled = rule.enabled
        actions = PushActions(rule.actions)
        switch rule.kind {
        case .override, .underride:
            matcher = .conditions((rule.conditions ?? []).map { Self.compile($0, userPlaceholder: userPlaceholder) })
        case .content:
            matcher = rule.pattern.map { .content(GlobPattern($0)) } ?? .conditions([.never])
        case .room:
            matcher = .room(rule.ruleID)
        case .sender:
            matcher = .sender(rule.ruleID)
        }
    }

    private static func compile(_ condition: JSON, userPlaceholder: String?) -> Condition {
        let path = condition["key"]?.stringValue.map(PropertyPath.components)
        switch condition["kind"]?.stringValue {
        case "event_match":
            guard let path, let key = condition["key"]?.stringValue, let pattern = condition["pattern"]?.stringValue else { return .never }
            if pattern == userPlaceholder { return .eventMatchesUser(path: path) }
            return .eventMatch(path: path, pattern: GlobPattern(pattern), isBody: key == "content.body")
        case "event_property_is":
            guard let path, let value = condition["value"], value.isScalar else { return .never }
            return .propertyIs(path: path, value: value)
        case "event_property_contains":
            guard let path, let value = condition["value"], value.isScalar else { return .never }
            if value.stringValue == userPlaceholder { return .propertyContainsUser(path: path) }
            return .propertyContains(path: path, value: value)
        case "contains_display_name":
            return .displayName
        case "room_member_count":
            return condition["is"]?.stringValue.flatMap(MemberCountComparison.init).map(Condition.memberCount) ?? .never
        case "sender_notification_permission":
            return condition["key"]?.stringValue.map(Condition.senderPermission) ?? .never
        default:
            return .never
        }
    }

    /// `budget` is what is left of the steps pattern matching may take for this user and
    /// event (`PushRuleSet.workBudget`); a pattern match that would exceed it does not match.
    func matches(_ event: JSONObject, context: PushEvaluationContext, budget: inout Int) -> Bool {
        switch matcher {
        case .conditions(let conditions):
            for condition in conditions where !Self.holds(condition, event: event, context: context, budget: &budget) { return false }
            return true
        case .content(let pattern):
            guard let body = event["content"]?["body"]?.stringValue, Self.spend(pattern.cost(body, words: true), from: &budget) else { return false }
            return pattern.matchesWords(in: body)
        case .room(let roomID):
            return event["room_id"]?.stringValue == roomID
        case .sender(let sender):
            return event["sender"]?.stringValue == sender
        }
    }

    /// Takes `cost` steps from the budget, or reports that they are not there (the match
    /// is then skipped, costing nothing, and cheaper conditions may still run).
    private static func spend(_ cost: Int, from budget: inout Int) -> Bool {
        guard cost <= budget else { return false }
        budget -= cost
        return true
    }

    private static func holds(_ condition: Condition, event: JSONObject, context: PushEvaluationContext, budget: inout Int) -> Bool {
        switch condition {
        case .eventMatch(let path, let pattern, let isBody):
            guard let value = PropertyPath.value(at: path, in: event)?.stringValue, spend(pattern.cost(value, words: isBody), from: &budget) else {
                return false
            }
            return isBody ? pattern.matchesWords(in: value) : pattern.matchesWhole(value)
        case .eventMatchesUser(let path):
            guard let value = PropertyPath.value(at: path, in: event)?.stringValue else { return false }
            let pattern = GlobPattern(value)
            guard spend(pattern.cost(context.userID, words: false), from: &budget) else { return false }
            return pattern.matchesWhole(context.userID)
        case .propertyIs(let path, let expected):
            guard let value = PropertyPath.value(at: path, in: event), value.isScalar else { return false }
            return value == expected
        case .propertyContains(let path, let expected):
            return PropertyPath.value(at: path, in: event)?.arrayValue?.contains { $0.isScalar && $0 == expected } ?? false
        case .propertyContainsUser(let path):
            return PropertyPath.value(at: path, in: event)?.arrayValue?.contains(.string(context.userID)) ?? false
        case .displayName:
            guard let name = context.displayName, !name.isEmpty, let body = event["content"]?["body"]?.stringValue else { return false }
            let pattern = GlobPattern(literal: name)
            guard spend(pattern.cost(body, words: true), from: &budget) else { return false }
            return pattern.matchesWords(in: body)
        case .memberCount(let comparison):
            return comparison.holds(context.memberCount)
        case .senderPermission(let key):
            return context.senderPowerLevel >= context.notificationLevels[key, default: 50]
        case .never:
            return false
        }
    }
}

extension DefaultPushRules {
    /// Stands for the user in the shared compiled defaults; no Matrix ID can contain NUL.
    static let userPlaceholder = "\u{0}user"
    static let compiledOverride = override(for: userPlaceholder).map { CompiledPushRule($0, userPlaceholder: userPlaceholder) }
    static let compiledUnderride = underride(for: userPlaceholder).map { CompiledPushRule($0, userPlaceholder: userPlaceholder) }
}

extension JSON {
    /// Strings, integers, booleans and null: the only values push conditions compare.
    var isScalar: Bool {
        switch self {
        case .string, .int, .bool, .null: return true
        case .double, .array, .object: return false
        }
    }
}
