/// A server name per the appendix grammar: `hostname [":" port]`, where hostname is an IPv4
/// literal, a bracketed IPv6 literal or a DNS name.
public struct ServerName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init?(_ value: String) {
        guard ServerName.isValid(value) else { return nil }
        self.value = value
    }

    public var description: String { value }

    public static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        var hostEnd = bytes.count
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = bytes[1..<close]
            guard literal.count >= 2, literal.count <= 45,
                literal.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }),
                literal.contains(UInt8(ascii: ":"))
            else { return false }
            hostEnd = close + 1
            if hostEnd == bytes.count { return true }
            guard bytes[hostEnd] == UInt8(ascii: ":") else { return false }
            return isValidPort(bytes[(hostEnd + 1)...])
        }
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            guard isValidPort(bytes[(colon + 1)...]) else { return false }
            hostEnd = colon
        }
        let host = bytes[..<hostEnd]
        guard !host.isEmpty else { return false }
        if host.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) {
            return isValidIPv4(host)
        }
        // DNS name: labels of alphanumerics and hyphens separated by dots.
        return host.allSatisfy { isDigit($0) || isAlpha($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    private static func isValidPort(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard (1...5).contains(bytes.count), bytes.allSatisfy(isDigit) else { return false }
        return (Int(String(decoding: bytes, as: UTF8.self)) ?? .max) <= 65535
    }

    private static func isValidIPv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            (1...3).contains(part.count) && (Int(String(decoding: part, as: UTF8.self)) ?? .max) <= 255
        }
    }
}

@inline(__always) func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
@inline(__always) func isAlpha(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) }
@inline(__always) func isHexDigit(_ byte: UInt8) -> Bool {
    isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
}

extension ServerName {
    /// The host (IPv6 literals keep their brackets) and the explicit port, if any.
    public var hostAndPort: (host: String, port: Int?) {
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            let host = String(value[...close])
            let rest = value[value.index(after: close)...]
            return (host, rest.first == ":" ? Int(rest.dropFirst()) : nil)
        }
        if let colon = value.lastIndex(of: ":") {
            return (String(value[..<colon]), Int(value[value.index(after: colon)...]))
        }
        return (value, nil)
    }

    /// Whether the host is an IPv4 or IPv6 literal rather than a DNS name.
    public var isIPLiteral: Bool {
        let host = hostAndPort.host
        return host.hasPrefix("[") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
