/// One change that voids cached data, as database triggers report it. Triggers, not the
/// store methods, report changes, so that no write path (an admin tool's, a cascade's, a
/// future one's) can forget to: SQLite's are temporary triggers on the writer connection
/// calling a Swift function, PostgreSQL's are a migration's triggers that both record the
/// change for the writing node (a transaction-local setting read before commit) and
/// `pg_notify` it to every other node.
///
/// Text form, one per line: `u <user>` (tokens and account flags), `p <user>` (push rules),
/// `m <room> <user>` (a membership), `s <room>` (current state), `e <event>` (a stored event
/// rewritten or deleted), `g <group>` (a state snapshot deleted), `*` (everything).
enum CacheChange: Hashable, Sendable {
    case account(String)
    case pushRules(String)
    case membership(room: String, user: String)
    case currentState(String)
    case event(String)
    case stateGroup(Int64)
    case everything

    init?(line: Substring) {
        if line == "*" {
            self = .everything
            return
        }
        let parts = line.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let key = String(parts[1])
        switch parts[0] {
        case "u": self = .account(key)
        case "p": self = .pushRules(key)
        case "s": self = .currentState(key)
        case "e": self = .event(key)
        case "g":
            guard let group = Int64(key) else { return nil }
            self = .stateGroup(group)
        case "m":
            // Room IDs have no spaces; user IDs (even historical ones) have none either.
            let ids = key.split(separator: " ", maxSplits: 1)
            guard ids.count == 2 else { return nil }
            self = .membership(room: String(ids[0]), user: String(ids[1]))
        default: return nil
        }
    }

    /// Parses a batch; an unreadable line counts as everything, since guessing could keep stale data.
    static func parse(_ text: Substring) -> [CacheChange] {
        text.split(separator: "\n").map { CacheChange(line: $0) ?? .everything }
    }

    /// What each backend's triggers watch: table, the change letter, the key columns, and on
    /// which operations. Inserted events and state snapshot rows void nothing (nothing cached
    /// them yet), so they are not watched; for users only the columns a token's owner carries.
    struct Watch {
        var table: String
        var kind: String
        var keys: [String]
        var operations: [String]
    }

    static let watches: [Watch] = [
        Watch(table: "access_tokens", kind: "u", keys: ["user_id"], operations: ["UPDATE", "DELETE"]),
        Watch(
            table: "users", kind: "u", keys: ["user_id"],
            operations: ["UPDATE OF is_admin, is_guest, deactivated, suspended, locked, shadow_banned", "DELETE"]),
        Watch(table: "ratelimit_overrides", kind: "u", keys: ["user_id"], operations: ["INSERT", "UPDATE", "DELETE"]),
        Watch(table: "push_rules", kind: "p", keys: ["user_id"], operations: ["INSERT", "UPDATE", "DELETE"]),
        Watch(table: "room_memberships", kind: "m", keys: ["room_id", "user_id"], operations: ["INSERT", "UPDATE", "DELETE"]),
        Watch(table: "current_state", kind: "s", keys: ["room_id"], operations: ["INSERT", "UPDATE", "DELETE"]),
        Watch(table: "events", kind: "e", keys: ["event_id"], operations: ["UPDATE", "DELETE"]),
        Watch(table: "state_groups", kind: "g", keys: ["id"], operations: ["UPDATE", "DELETE"]),
        Watch(table: "state_group_entries", kind: "g", keys: ["group_id"], operations: ["UPDATE", "DELETE"]),
    ]

    /// More changes than this in one transaction void everything instead (a room purge).
    static let batchLimit = 1000
}
