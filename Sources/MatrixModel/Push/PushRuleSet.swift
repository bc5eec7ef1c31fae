/// A user's push rules: the server-default rules with the user's changes to them, plus the
/// user's own rules. Only the changes are stored (`document`), so a later server version's
/// new default rules reach every user.
///
/// Stored document: `{"override": [rule...], "content": [...], "room": [...], "sender": [...],
/// "underride": [...], "defaults": {"<rule_id>": {"enabled": bool, "actions": [...]}}}`.
public struct PushRuleSet: Sendable, Equatable {
    public let userID: String
    public private(set) var document: JSONObject {
        didSet { ordered = compile() }
    }
    /// Every rule in evaluation order, compiled.
    private var ordered: [CompiledPushRule] = []

    public init(userID: String, document: JSONObject?) {
        self.userID = userID
        self.document = document ?? [:]
        ordered = compile()
    }

    public static func == (lhs: PushRuleSet, rhs: PushRuleSet) -> Bool {
        lhs.userID == rhs.userID && lhs.document == rhs.document
    }

    private func compile() -> [CompiledPushRule] {
        let overrides = document["defaults"]?.objectValue
        func applyingOverrides(_ rule: CompiledPushRule) -> CompiledPushRule {
            guard let override = overrides?[rule.ruleID] else { return rule }
            var rule = rule
            if let enabled = override["enabled"]?.boolValue { rule.enabled = enabled }
            if let actions = override["actions"]?.arrayValue { rule.actions = PushActions(actions) }
            return rule
        }
        let defaultOverrides = DefaultPushRules.compiledOverride.map(applyingOverrides)
        var rules = defaultOverrides.filter { $0.ruleID == DefaultPushRules.masterID }
        for kind in PushRuleKind.allCases {
            rules += userRules(kind).map { CompiledPushRule($0) }
            switch kind {
            case .override: rules += defaultOverrides.filter { $0.ruleID != DefaultPushRules.masterID }
            case .underride: rules += DefaultPushRules.compiledUnderride.map(applyingOverrides)
            case .content, .room, .sender: break
            }
        }
        return rules
    }

    /// The rules of one kind in the order they are checked. `.m.rule.master` comes before
    /// everything; otherwise user-defined rules come before server-default ones.
    public func rules(_ kind: PushRuleKind) -> [PushRule] {
        let defaults = defaultRules(kind).map(applyingOverrides)
        let own = userRules(kind)
        guard kind == .override else { return own + defaults }
        return defaults.filter { $0.ruleID == DefaultPushRules.masterID } + own
            + defaults.filter { $0.ruleID != DefaultPushRules.masterID }
    }

    public func rule(_ kind: PushRuleKind, id: String) -> PushRule? {
        rules(kind).first { $0.ruleID == id }
    }

    /// `GET /pushrules/` and the `m.push_rules` account data: `{"global": {kind: [rule...]}}`.
    public var json: JSONObject {
        var global: JSONObject = [:]
        for kind in PushRuleKind.allCases {
            global[kind.rawValue] = .array(rules(kind).map { .object($0.json) })
        }
        return ["global": .object(global)]
    }

    /// Whether evaluating needs the user's display name (only a deprecated condition does).
    public var usesDisplayName: Bool {
        PushRuleKind.allCases.contains { kind in
            userRules(kind).contains { $0.enabled && ($0.conditions ?? []).contains { $0["kind"] == "contains_display_name" } }
        }
    }

    /// The actions of the first enabled rule that matches, or nil when none does.
    public func evaluate(_ event: JSONObject, context: PushEvaluationContext) -> PushActions? {
        var budget = Self.workBudget
        return ordered.first { $0.enabled && $0.matches(event, context: context, budget: &budget) }?.actions
    }

    /// The pattern-matching steps one user's rules may take for one event (about 2 ms). The
    /// bounds below still allow rule sets that would take seconds per event on a 64 KiB body
    /// (500 rules × 255-byte patterns × 65 536 characters); a match that would go over the
    /// budget counts as no match, so every member's rules cost a bounded, deterministic amount.
    public static let workBudget = 400_000

    // MARK: Changes (the `PUT`/`DELETE /pushrules/global/{kind}/{ruleId}` family)

    /// Every event is matched against every member's rules, at (body × pattern) steps per
    /// pattern: these bounds keep one user's rules from costing the server per event.
    static let maxPatternBytes = 255
    static let maxConditions = 16
    static let maxUserRules = 500

    /// Adds or replaces a user-defined rule, placed by `before`/`after` (spec `setPushRule`).
    public mutating func setRule(
        _ kind: PushRuleKind, id: String, body: JSONObject, before: String?, after: String?
    ) throws(MatrixError) {
        guard !id.hasPrefix(".") else { throw MatrixError.invalidParam("Rule IDs starting with '.' are reserved for server-default rules") }
        guard !id.isEmpty, !id.contains("/"), !id.contains("\\") else {
            throw MatrixError.invalidParam("A rule ID must be non-empty and contain no '/' or '\\'")
        }
        switch kind {
        case .room: guard RoomID(id) != nil else { throw MatrixError.invalidParam("A room rule's ID must be a room ID") }
        case .sender: guard UserID(id) != nil else { throw MatrixError.invalidParam("A sender rule's ID must be a user ID") }
        case .override, .underride, .content: break
        }
        guard let actionsJSON = body["actions"] else { throw MatrixError.missingParam("'actions' is required") }
        let actions = try Self.validatedActions(actionsJSON)
        var rule = PushRule(ruleID: id, kind: kind, actions: actions)
        switch kind {
        case .content:
            guard let pattern = body["pattern"]?.stringValue else { throw MatrixError.missingParam("Content rules need a 'pattern' string") }
            try Self.checkPattern(pattern)
            rule.pattern = pattern
        case .override, .underride:
            rule.conditions = try Self.validatedConditions(body["conditions"] ?? .array([]))
        case .room, .sender:
            break
        }
        var own = userRules(kind)
        if !own.contains(where: { $0.ruleID == id }),
            PushRuleKind.allCases.reduce(0, { $0 + userRules($1).count }) >= Self.maxUserRules
        {
            throw MatrixError.invalidParam("A user may have at most \(Self.maxUserRules) push rules")
        }
        if let existing = own.firstIndex(where: { $0.ruleID == id }) {
            rule.enabled = own[existing].enabled
            if before == nil && after == nil {
                own[existing] = rule
                store(own, kind)
                return
            }
            own.remove(at: existing)
        }
        // With both given, `before` decides (spec: the next most important relative to it).
        if let anchor = before ?? after {
            guard let index = own.firstIndex(where: { $0.ruleID == anchor }) else {
                throw MatrixError.unknown("before/after rule not found: \(anchor)")
            }
            own.insert(rule, at: before != nil ? index : index + 1)
        } else {
            own.insert(rule, at: 0)
        }
        store(own, kind)
    }

    /// Removes a user-defined rule; server-default rules can only be disabled.
    public mutating func deleteRule(_ kind: PushRuleKind, id: String) throws(MatrixError) {
        var own = userRules(kind)
        if let index = own.firstIndex(where: { $0.ruleID == id }) {
            own.remove(at: index)
            store(own, kind)
            return
        }
        if defaultRules(kind).contains(where: { $0.ruleID == id }) {
            throw MatrixError.invalidParam("Server-default rules cannot be deleted; disable them instead")
        }
        throw MatrixError.notFound("The push rule was not found.")
    }

    public mutating func setEnabled(_ kind: PushRuleKind, id: String, enabled: Bool) throws(MatrixError) {
        try change(kind, id: id) { $0["enabled"] = .bool(enabled) }
    }

    public mutating func setActions(_ kind: PushRuleKind, id: String, actions: JSON) throws(MatrixError) {
        let actions = try Self.validatedActions(actions)
        try change(kind, id: id) { $0["actions"] = .array(actions) }
    }

    private mutating func change(_ kind: PushRuleKind, id: String, _ edit: (inout JSONObject) -> Void) throws(MatrixError) {
        var own = userRules(kind)
        if let index = own.firstIndex(where: { $0.ruleID == id }) {
            var stored = own[index].storedJSON
            edit(&stored)
            own[index] = PushRule(stored: stored, kind: kind) ?? own[index]
            store(own, kind)
            return
        }
        guard defaultRules(kind).contains(where: { $0.ruleID == id }) else { throw MatrixError.notFound("The push rule was not found.") }
        var overrides = document["defaults"]?.objectValue ?? [:]
        var entry = overrides[id]?.objectValue ?? [:]
        edit(&entry)
        overrides[id] = .object(entry)
        document["defaults"] = .object(overrides)
    }

    // MARK: Stored parts

    private func defaultRules(_ kind: PushRuleKind) -> [PushRule] {
        switch kind {
        case .override: DefaultPushRules.override(for: userID)
        case .underride: DefaultPushRules.underride(for: userID)
        case .content, .room, .sender: []
        }
    }

    private func applyingOverrides(_ rule: PushRule) -> PushRule {
        guard let override = document["defaults"]?[rule.ruleID] else { return rule }
        var rule = rule
        if let enabled = override["enabled"]?.boolValue { rule.enabled = enabled }
        if let actions = override["actions"]?.arrayValue { rule.actions = actions }
        return rule
    }

    private func userRules(_ kind: PushRuleKind) -> [PushRule] {
        (document[kind.rawValue]?.arrayValue ?? []).compactMap { $0.objectValue.flatMap { PushRule(stored: $0, kind: kind) } }
    }

    private mutating func store(_ rules: [PushRule], _ kind: PushRuleKind) {
        document[kind.rawValue] = rules.isEmpty ? nil : .array(rules.map { .object($0.storedJSON) })
    }

    static func validatedActions(_ value: JSON) throws(MatrixError) -> [JSON] {
        guard let actions = value.arrayValue else { throw MatrixError.badJSON("'actions' must be an array") }
        for action in actions {
            switch action {
            case "notify", "dont_notify", "coalesce":
                continue
            case .object(let object) where object["set_tweak"]?.stringValue != nil:
                continue
            default:
                throw MatrixError.badJSON("Unrecognised push action: \(action.encodedString())")
            }
        }
        return PushActions(actions).actions
    }

    static func validatedConditions(_ value: JSON) throws(MatrixError) -> [JSON] {
        guard let conditions = value.arrayValue, conditions.allSatisfy({ $0["kind"]?.stringValue != nil }) else {
            throw MatrixError.badJSON("'conditions' must be an array of objects with a 'kind'")
        }
        guard conditions.count <= maxConditions else { throw MatrixError.invalidParam("A rule may have at most \(maxConditions) conditions") }
        for condition in conditions {
            if let pattern = condition["pattern"]?.stringValue { try checkPattern(pattern) }
        }
        return conditions
    }

    static func checkPattern(_ pattern: String) throws(MatrixError) {
        guard pattern.utf8.count <= maxPatternBytes else {
            throw MatrixError.invalidParam("Push rule patterns are limited to \(maxPatternBytes) bytes")
        }
    }
}
