import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// SRV lookups for server discovery. getaddrinfo cannot ask for SRV records, so this asks
/// the system's nameservers (`/etc/resolv.conf`, or `federation_dns_servers`) directly: UDP,
/// then TCP when the answer is truncated; bounded in time, size and cache entries.
final class SRVResolver: Sendable {
    struct Nameserver: Sendable, Equatable {
        var host: String
        var port: UInt16
    }

    let nameservers: [Nameserver]
    let timeout: Duration
    private let cache = Mutex([String: (records: [SRVRecord], expires: ContinuousClock.Instant)]())
    static let ttlBounds: ClosedRange<UInt32> = 60...3600
    static let negativeTTL: UInt32 = 300

    init(nameservers: [Nameserver], timeout: Duration = .seconds(3)) {
        self.nameservers = nameservers
        self.timeout = timeout
    }

    /// `federation_dns_servers` entries ("1.2.3.4", "127.0.0.1:5353", "[::1]:53"), or the
    /// system's `nameserver` lines; the local resolver when there are none.
    static func nameservers(configured: [String]?, resolvConf: String? = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8))
        -> [Nameserver]
    {
        if let configured, !configured.isEmpty { return configured.compactMap(parse) }
        let system = (resolvConf ?? "").split(separator: "\n").compactMap { line -> Nameserver? in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return Nameserver(host: String(fields[1].split(separator: "%").first ?? fields[1]), port: 53)
        }
        return system.isEmpty ? [Nameserver(host: "127.0.0.1", port: 53)] : Array(system.prefix(3))
    }

    static func parse(_ entry: String) -> Nameserver? {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            if rest.isEmpty { return Nameserver(host: host, port: 53) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return Nameserver(host: host, port: port)
        }
        let parts = entry.split(separator: ":")
        if parts.count == 2, let port = UInt16(parts[1]) { return Nameserver(host: String(parts[0]), port: port) }
        return IPRange.bytes(entry) != nil ? Nameserver(host: entry, port: 53) : nil
    }

    /// The SRV records of `name` in RFC 2782 order; empty when there are none, the name does
    /// not exist, the only record is "." (service decidedly not offered), or no nameserver answered.
    func lookup(_ name: String) async -> [SRVRecord] {
        let key = SRVMessage.normalized(name)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[key] }), cached.expires > now { return SRVMessage.ordered(cached.records) }
        let answer = try? await NIOThreadPool.singleton.runIfActive { [nameservers, timeout] in
            Self.ask(nameservers: nameservers, name: key, timeout: timeout)
        }
        guard let answer else { return [] }  // no nameserver answered: not cached
        let records = answer.records.filter { !$0.target.isEmpty }
        let ttl = records.isEmpty ? Self.negativeTTL : min(max(records.map(\.ttl).min() ?? 0, Self.ttlBounds.lowerBound), Self.ttlBounds.upperBound)
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[key] = (records, now + .seconds(Int64(ttl)))
        }
        return SRVMessage.ordered(records)
    }

    /// Each nameserver in turn until one answers (NXDOMAIN counts as an answer).
    private static func ask(nameservers: [Nameserver], name: String, timeout: Duration) -> SRVMessage.Answer? {
        for server in nameservers {
            let id = UInt16.random(in: 0...UInt16.max)
            guard let query = SRVMessage.query(id: id, name: name) else { return nil }
            guard let reply = exchange(query, with: server, stream: false, timeout: timeout),
                var answer = try? SRVMessage.parse(reply, expectedID: id, name: name)
            else { continue }
            if answer.truncated {
                guard let full = exchange(query, with: server, stream: true, timeout: timeout),
                    let whole = try? SRVMessage.parse(full, expectedID: id, name: name)
                else { continue }
                answer = whole
            }
            guard answer.responseCode == 0 || answer.responseCode == 3 else { continue }
            return answer
        }
        return nil
    }

    /// One query and its reply over a socket of its own (TCP frames carry a length prefix).
    private static func exchange(_ query: [UInt8], with server: Nameserver, stream: Bool, timeout: Duration) -> [UInt8]? {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST
        hints.ai_socktype = Int32(stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(server.host, String(server.port), &hints, &info) == 0, let address = info else { return nil }
        defer { freeaddrinfo(address) }
        let descriptor = socket(address.pointee.ai_family, address.pointee.ai_socktype, 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let milliseconds = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var interval = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        guard connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else { return nil }
        let framed = stream ? [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query : query
        guard framed.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == framed.count else { return nil }
        if !stream {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            return count > 0 ? Array(buffer.prefix(count)) : nil
        }
        guard let prefix = receive(descriptor, count: 2) else { return nil }
        return receive(descriptor, count: Int(prefix[0]) << 8 | Int(prefix[1]))
    }

    private static func receive(_ descriptor: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + filled, count - filled, 0) }
            guard got > 0 else { return nil }
            filled += got
        }
        return buffer
    }
}
