/// `@localpart:server`. Parsing accepts the historical character set (any code point but `:`
/// and NUL) because such IDs still exist over federation; `isCompliantLocalpart` is the
/// stricter grammar that new registrations must follow.
public struct UserID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let localpart: String
    public let server: ServerName

    public init(localpart: String, server: ServerName) {
        self.localpart = localpart
        self.server = server
    }

    public init?(_ string: String) {
        guard string.utf8.count <= 255, string.hasPrefix("@") else { return nil }
        let body = string.dropFirst()
        guard let colon = body.firstIndex(of: ":") else { return nil }
        let localpart = String(body[..<colon])
        guard !localpart.unicodeScalars.contains("\0"),
            let server = ServerName(String(body[body.index(after: colon)...]))
        else { return nil }
        self.localpart = localpart
        self.server = server
    }

    public var description: String { "@\(localpart):\(server)" }

    public static func < (lhs: UserID, rhs: UserID) -> Bool { lhs.description < rhs.description }

    /// The grammar new user IDs must follow: `[a-z0-9._=\-/+]+`.
    public static func isCompliantLocalpart(_ localpart: String) -> Bool {
        !localpart.isEmpty && localpart.utf8.allSatisfy { byte in
            isDigit(byte) || (byte >= 0x61 && byte <= 0x7A) || "-.=_/+".utf8.contains(byte)
        }
    }
}

/// Room IDs: `!opaque:server` up to room version 11, `!` + unpadded URL-safe base64 of the
/// create event's reference hash from version 12 on (no server part).
public struct RoomID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init?(_ string: String) {
        guard string.utf8.count <= 255, string.hasPrefix("!"), string.utf8.count > 1 else { return nil }
        let body = string.dropFirst()
        if let colon = body.firstIndex(of: ":") {
            guard colon != body.startIndex, ServerName.isValid(String(body[body.index(after: colon)...])) else {
                return nil
            }
        } else {
            guard body.utf8.allSatisfy(isURLSafeBase64Byte) else { return nil }
        }
        value = string
    }

    public var description: String { value }

    public var server: ServerName? {
        guard let colon = value.firstIndex(of: ":") else { return nil }
        return ServerName(String(value[value.index(after: colon)...]))
    }
}

/// `#alias:server`.
public struct RoomAlias: Hashable, Sendable, CustomStringConvertible {
    public let localpart: String
    public let server: ServerName

    public init?(_ string: String) {
        guard string.utf8.count <= 255, string.hasPrefix("#") else { return nil }
        let body = string.dropFirst()
        guard let colon = body.firstIndex(of: ":") else { return nil }
        let localpart = String(body[..<colon])
        guard !localpart.isEmpty, !localpart.unicodeScalars.contains("\0"),
            let server = ServerName(String(body[body.index(after: colon)...]))
        else { return nil }
        self.localpart = localpart
        self.server = server
    }

    public var description: String { "#\(localpart):\(server)" }
}

/// Event IDs: `$opaque:server` (room v1–v2) or `$` + unpadded URL-safe base64 of the
/// reference hash (v4+).
public struct EventID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init?(_ string: String) {
        guard string.utf8.count <= 255, string.hasPrefix("$"), string.utf8.count > 1 else { return nil }
        value = string
    }

    public var description: String { value }
}

func isURLSafeBase64Byte(_ byte: UInt8) -> Bool {
    isDigit(byte) || isAlpha(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
}
