/// The redaction algorithms of the room versions (spec fragments v1, v6, v8, v9 and v11
/// "redactions"): strips every key not essential to the protocol, keeping the hashes so
/// signatures still verify.
public enum Redaction {
    private static let v1TopLevel: Set<String> = [
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership",
    ]
    private static let v11TopLevel: Set<String> = [
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "auth_events", "origin_server_ts",
    ]

    public static func redact(_ event: JSONObject, version: RoomVersion) -> JSONObject {
        let keep = version.redaction >= .v11 ? v11TopLevel : v1TopLevel
        var redacted = JSONObject()
        for (key, value) in event where keep.contains(key) {
            redacted[key] = value
        }
        let type = event["type"]?.stringValue ?? ""
        let content = event["content"]?.objectValue ?? [:]
        redacted["content"] = .object(redactedContent(content, type: type, version: version))
        return redacted
    }

    static func redactedContent(_ content: JSONObject, type: String, version: RoomVersion) -> JSONObject {
        let rules = version.redaction
        let allowed: Set<String>
        switch type {
        case "m.room.member":
            allowed = rules >= .v9 ? ["membership", "join_authorised_via_users_server"] : ["membership"]
        case "m.room.create":
            if rules >= .v11 { return content }
            allowed = ["creator"]
        case "m.room.join_rules":
            allowed = rules >= .v8 ? ["join_rule", "allow"] : ["join_rule"]
        case "m.room.power_levels":
            allowed =
                rules >= .v11
                ? ["ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default"]
                : ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"]
        case "m.room.aliases" where rules < .v6:
            allowed = ["aliases"]
        case "m.room.history_visibility":
            allowed = ["history_visibility"]
        case "m.room.redaction" where rules >= .v11:
            allowed = ["redacts"]
        default:
            allowed = []
        }
        var kept = JSONObject()
        for (key, value) in content where allowed.contains(key) {
            kept[key] = value
        }
        // v11 keeps only `signed` inside a member event's third_party_invite.
        if rules >= .v11, type == "m.room.member", let signed = content["third_party_invite"]?["signed"] {
            kept["third_party_invite"] = ["signed": signed]
        }
        return kept
    }
}
