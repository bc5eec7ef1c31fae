/// The five kinds of push rule, in the order they are checked (spec "Push Rules").
public enum PushRuleKind: String, Sendable, CaseIterable {
    case override, content, room, sender, underride
}

/// One push rule as clients see it in `GET /pushrules/`.
public struct PushRule: Sendable, Equatable {
    public var ruleID: String
    public var kind: PushRuleKind
    public var isDefault: Bool
    public var enabled: Bool
    public var actions: [JSON]
    /// Only `override` and `underride` rules have conditions.
    public var conditions: [JSON]?
    /// Only `content` rules have a pattern.
    public var pattern: String?

    public init(
        ruleID: String, kind: PushRuleKind, isDefault: Bool = false, enabled: Bool = true, actions: [JSON],
        conditions: [JSON]? = nil, pattern: String? = nil
    ) {
        self.ruleID = ruleID
        self.kind = kind
        self.isDefault = isDefault
        self.enabled = enabled
        self.actions = actions
        self.conditions = conditions
        self.pattern = pattern
    }

    public var json: JSONObject {
        var object: JSONObject = [
            "rule_id": .string(ruleID), "default": .bool(isDefault), "enabled": .bool(enabled), "actions": .array(actions),
        ]
        if let conditions { object["conditions"] = .array(conditions) }
        if let pattern { object["pattern"] = .string(pattern) }
        return object
    }

    /// The stored form of a user-defined rule (the kind is where it is stored).
    init?(stored object: JSONObject, kind: PushRuleKind) {
        guard let ruleID = object["rule_id"]?.stringValue, let actions = object["actions"]?.arrayValue else { return nil }
        self.init(
            ruleID: ruleID, kind: kind, enabled: object["enabled"]?.boolValue ?? true, actions: actions,
            conditions: object["conditions"]?.arrayValue, pattern: object["pattern"]?.stringValue)
    }

    var storedJSON: JSONObject {
        var object = json
        object["default"] = nil
        return object
    }
}

/// What a matching rule's actions mean for a notification.
public struct PushActions: Sendable, Equatable {
    /// With the historical `dont_notify` and `coalesce` removed, as the spec requires.
    public var actions: [JSON]

    public init(_ actions: [JSON]) {
        self.actions = actions.filter { $0 != "dont_notify" && $0 != "coalesce" }
    }

    public var notifies: Bool { actions.contains("notify") }

    /// A `highlight` tweak with no value means true; no tweak at all means false.
    public var highlights: Bool {
        for action in actions where action["set_tweak"]?.stringValue == "highlight" {
            return action["value"]?.boolValue ?? true
        }
        return false
    }

    /// The tweaks to send to a push gateway.
    public var tweaks: JSONObject {
        var tweaks: JSONObject = [:]
        for action in actions {
            guard let name = action["set_tweak"]?.stringValue else { continue }
            tweaks[name] = action["value"] ?? (name == "highlight" ? .bool(true) : .null)
        }
        return tweaks
    }
}

/// The server-default rules of spec v1.19 ("Predefined Rules"), for one user.
enum DefaultPushRules {
    static let masterID = ".m.rule.master"

    static func override(for userID: String) -> [PushRule] {
        let sound: JSON = ["set_tweak": "sound", "value": "default"]
        let highlight: JSON = ["set_tweak": "highlight"]
        return [
            rule(masterID, .override, enabled: false, [], []),
            rule(".m.rule.suppress_notices", .override, [match("content.msgtype", "m.notice")], []),
            rule(
                ".m.rule.invite_for_me", .override,
                [match("type", "m.room.member"), match("content.membership", "invite"), match("state_key", .string(userID))],
                ["notify", sound]),
            rule(".m.rule.member_event", .override, [match("type", "m.room.member")], []),
            rule(
                ".m.rule.is_user_mention", .override,
                [["kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": .string(userID)]],
                ["notify", sound, highlight]),
            rule(
                ".m.rule.is_room_mention", .override,
                [
                    ["kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true],
                    ["kind": "sender_notification_permission", "key": "room"],
                ], ["notify", highlight]),
            rule(".m.rule.tombstone", .override, [match("type", "m.room.tombstone"), match("state_key", "")], ["notify", highlight]),
            rule(".m.rule.reaction", .override, [match("type", "m.reaction")], []),
            rule(".m.rule.room.server_acl", .override, [match("type", "m.room.server_acl"), match("state_key", "")], []),
            rule(
                ".m.rule.suppress_edits", .override,
                [["kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"]], []),
        ]
    }

    static func underride(for userID: String) -> [PushRule] {
        let sound: JSON = ["set_tweak": "sound", "value": "default"]
        let twoMembers: JSON = ["kind": "room_member_count", "is": "2"]
        return [
            rule(".m.rule.call", .underride, [match("type", "m.call.invite")], ["notify", ["set_tweak": "sound", "value": "ring"]]),
            rule(".m.rule.encrypted_room_one_to_one", .underride, [twoMembers, match("type", "m.room.encrypted")], ["notify", sound]),
            rule(".m.rule.room_one_to_one", .underride, [twoMembers, match("type", "m.room.message")], ["notify", sound]),
            rule(".m.rule.message", .underride, [match("type", "m.room.message")], ["notify"]),
            rule(".m.rule.encrypted", .underride, [match("type", "m.room.encrypted")], ["notify"]),
        ]
    }

    private static func match(_ key: String, _ pattern: JSON) -> JSON {
        ["kind": "event_match", "key": .string(key), "pattern": pattern]
    }

    private static func rule(_ id: String, _ kind: PushRuleKind, enabled: Bool = true, _ conditions: [JSON], _ actions: [JSON]) -> PushRule {
        PushRule(ruleID: id, kind: kind, isDefault: true, enabled: enabled, actions: actions, conditions: conditions)
    }
}
