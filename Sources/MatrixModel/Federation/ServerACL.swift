/// `m.room.server_acl` (spec "Server Access Control Lists"): which servers may take part in a
/// room. Ports are ignored; `deny` is checked before `allow`; IP literals are refused unless
/// `allow_ip_literals` (default true) says otherwise. Patterns are globs of `*` and `?`.
public struct ServerACL: Sendable, Equatable {
    public var allow: [String]
    public var deny: [String]
    public var allowIPLiterals: Bool

    /// Nil when the room has no ACL (everyone allowed).
    public init?(content: JSON?) {
        guard let content, case .object = content else { return nil }
        allow = content["allow"]?.arrayValue?.compactMap(\.stringValue) ?? []
        deny = content["deny"]?.arrayValue?.compactMap(\.stringValue) ?? []
        allowIPLiterals = content["allow_ip_literals"]?.boolValue ?? true
    }

    public func allows(_ server: String) -> Bool {
        guard let name = ServerName(server) else { return false }
        let host = name.hostAndPort.host.lowercased()
        if !allowIPLiterals, name.isIPLiteral { return false }
        if deny.contains(where: { Self.glob($0.lowercased(), matches: host) }) { return false }
        return allow.contains { Self.glob($0.lowercased(), matches: host) }
    }

    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
