import Foundation
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps pushers from turning the homeserver into a way to reach its own network: a push
/// gateway on a loopback, private, link-local or otherwise internal address is refused unless
/// `push_allow_private_addresses` is set. Names are resolved just before each delivery; a
/// name that re-resolves between the check and the connection (DNS rebinding) is not caught.
enum PushDestination {
    /// Whether a host (name or IP literal) is an internal address, without resolving names.
    static func isInternalLiteral(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if bare.lowercased() == "localhost" || bare.lowercased().hasSuffix(".localhost") { return true }
        if let v4 = ipv4(bare) { return isInternal(v4: v4) }
        if let v6 = ipv6(bare) { return isInternal(v6: v6) }
        return false
    }

    /// Resolves the host and says whether any of its addresses is internal.
    static func resolvesInternally(_ host: String) async throws -> Bool {
        if isInternalLiteral(host) { return true }
        guard let addresses = try await resolve(host), !addresses.isEmpty else { return true }
        return addresses.contains { isInternal($0) }
    }

    /// The addresses a name resolves to (4 or 16 bytes each); nil when it does not resolve.
    static func resolve(_ host: String) async throws -> [[UInt8]]? {
        if let literal = IPRange.bytes(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
            defer { freeaddrinfo(first) }
            var addresses: [[UInt8]] = []
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                if let address = current.pointee.ai_addr {
                    switch Int32(address.pointee.sa_family) {
                    case AF_INET:
                        let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                        addresses.append(withUnsafeBytes(of: v4) { Array($0) })
                    case AF_INET6:
                        let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        addresses.append(withUnsafeBytes(of: v6) { Array($0) })
                    default:
                        break
                    }
                }
                entry = current.pointee.ai_next
            }
            var unique: [[UInt8]] = []
            for address in addresses where !unique.contains(address) { unique.append(address) }
            return unique
        }
    }

    static func isInternal(_ address: [UInt8]) -> Bool {
        address.count == 4 ? isInternal(v4: address) : isInternal(v6: address)
    }

    static func isInternal(v4 bytes: [UInt8]) -> Bool {
        guard bytes.count == 4 else { return true }
        let (a, b) = (bytes[0], bytes[1])
        return a == 0 || a == 10 || a == 127 || a >= 224 || (a == 100 && (64...127).contains(b)) || (a == 169 && b == 254)
            || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) || (a == 192 && b == 0 && bytes[2] == 0)
            || (a == 198 && (b == 18 || b == 19))
    }

    static func isInternal(v6 bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return true }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return true }  // :: and ::1
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return isInternal(v4: Array(bytes[12..<16]))  // IPv4-mapped
        }
        return bytes[0] & 0xFE == 0xFC || (bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80) || bytes[0] == 0xFF
    }

    private static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address.s_addr) { Array($0) }
    }

    private static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }
}
