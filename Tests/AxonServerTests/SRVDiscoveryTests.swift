import Foundation
import MatrixModel
import Synchronization
import Testing

@testable import AxonServer

#if canImport(Glibc)
    import Glibc
#endif

/// SRV lookups as server discovery uses them, against a nameserver on loopback that this test
/// runs: UDP answers, a truncated UDP answer completed over TCP, NXDOMAIN, and the spec's
/// order of well-known, `_matrix-fed._tcp`, `_matrix._tcp` and 8448.
@Suite struct SRVDiscoveryTests {
    @Test func wireFormatRoundTripsAndRefusesLoops() throws {
        let query = try #require(SRVMessage.query(id: 0x1234, name: "_matrix-fed._tcp.example.org"))
        let reply = TestNameserver.reply(
            to: query, records: [SRVRecord(priority: 10, weight: 5, port: 8449, target: "matrix.example.org", ttl: 600)])
        let answer = try SRVMessage.parse(reply, expectedID: 0x1234, name: "_matrix-fed._tcp.example.org")
        #expect(answer.records == [SRVRecord(priority: 10, weight: 5, port: 8449, target: "matrix.example.org", ttl: 600)])
        #expect(answer.responseCode == 0 && !answer.truncated)
        // Another ID or another question is not our answer.
        #expect(throws: SRVMessage.Malformed.self) { try SRVMessage.parse(reply, expectedID: 1, name: "_matrix-fed._tcp.example.org") }
        #expect(throws: SRVMessage.Malformed.self) { try SRVMessage.parse(reply, expectedID: 0x1234, name: "_matrix-fed._tcp.other.org") }
        // A compression pointer to itself (a loop) and a cut-off message are refused.
        var looping = reply
        looping[12] = 0xC0
        looping[13] = 12
        #expect(throws: SRVMessage.Malformed.self) { try SRVMessage.parse(looping, expectedID: 0x1234, name: "x") }
        #expect(throws: SRVMessage.Malformed.self) { try SRVMessage.parse(Array(reply.prefix(reply.count - 3)), expectedID: 0x1234, name: "_matrix-fed._tcp.example.org") }
        #expect(SRVMessage.query(id: 1, name: String(repeating: "a", count: 64) + ".org") == nil)
    }

    @Test func recordsAreOrderedByPriorityThenWeight() {
        let records = [
            SRVRecord(priority: 20, weight: 0, port: 3, target: "c", ttl: 1),
            SRVRecord(priority: 10, weight: 10, port: 2, target: "b", ttl: 1),
            SRVRecord(priority: 10, weight: 90, port: 1, target: "a", ttl: 1),
        ]
        // A draw of the maximum picks the heaviest first; a draw of zero the lightest.
        #expect(SRVMessage.ordered(records, random: { $0 }).map(\.target) == ["a", "b", "c"])
        #expect(SRVMessage.ordered(records, random: { _ in 0 }).map(\.target) == ["b", "a", "c"])
    }

    @Test func nameserversComeFromConfigOrResolvConf() {
        #expect(SRVResolver.nameservers(configured: ["127.0.0.1:5353", "[::1]:54", "10.0.0.1"], resolvConf: nil) == [
            .init(host: "127.0.0.1", port: 5353), .init(host: "::1", port: 54), .init(host: "10.0.0.1", port: 53),
        ])
        #expect(SRVResolver.nameservers(configured: nil, resolvConf: "# x\nsearch lan\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\n") == [
            .init(host: "192.0.2.1", port: 53), .init(host: "fe80::1", port: 53),
        ])
        #expect(SRVResolver.nameservers(configured: nil, resolvConf: "") == [.init(host: "127.0.0.1", port: 53)])
    }

    @Test func discoveryFollowsSRVRecordsInTheSpecsOrder() async throws {
        let nameserver = try TestNameserver(zone: [
            "_matrix-fed._tcp.srv.example": [SRVRecord(priority: 0, weight: 0, port: 8449, target: "matrix.srv.example", ttl: 300)],
            // Answered truncated over UDP, so the resolver must ask again over TCP.
            "_matrix._tcp.legacy.example": [SRVRecord(priority: 0, weight: 0, port: 8450, target: "old.legacy.example", ttl: 300)],
            "_matrix-fed._tcp.delegate.example": [SRVRecord(priority: 5, weight: 0, port: 8451, target: "box.delegate.example", ttl: 300)],
            "_matrix-fed._tcp.both.example": [SRVRecord(priority: 0, weight: 0, port: 1, target: "new.both.example", ttl: 300)],
            "_matrix._tcp.both.example": [SRVRecord(priority: 0, weight: 0, port: 2, target: "old.both.example", ttl: 300)],
        ], truncate: ["_matrix._tcp.legacy.example"])
        defer { nameserver.stop() }
        let resolver = SRVResolver(nameservers: [.init(host: "127.0.0.1", port: nameserver.port)], timeout: .seconds(2))
        let discovery = ServerDiscovery(
            fetchWellKnown: { host in host == "delegating.example" ? (["m.server": "delegate.example"], nil) : (nil, nil) },
            lookupSRV: { name in await resolver.lookup(name) })

        // 4. `_matrix-fed._tcp`: connect to the target and port; Host and certificate stay the name.
        #expect(await discovery.destination(for: ServerName("srv.example")!)
            == FederationDestination(host: "matrix.srv.example", port: 8449, hostHeader: "srv.example", tlsName: "srv.example"))
        // 5. The deprecated `_matrix._tcp`, here only reachable over TCP.
        #expect(await discovery.destination(for: ServerName("legacy.example")!)
            == FederationDestination(host: "old.legacy.example", port: 8450, hostHeader: "legacy.example", tlsName: "legacy.example"))
        // `_matrix-fed` wins over `_matrix`.
        #expect(await discovery.destination(for: ServerName("both.example")!).host == "new.both.example")
        // 3.3: a port-less delegation uses the delegated name's records; Host is the delegated name.
        #expect(await discovery.destination(for: ServerName("delegating.example")!)
            == FederationDestination(host: "box.delegate.example", port: 8451, hostHeader: "delegate.example", tlsName: "delegate.example"))
        // 6. NXDOMAIN: the name itself on 8448.
        #expect(await discovery.destination(for: ServerName("none.example")!)
            == FederationDestination(host: "none.example", port: 8448, hostHeader: "none.example", tlsName: "none.example"))
        // Answers are cached by TTL: asking again sends nothing.
        let asked = nameserver.queries
        _ = await discovery.destination(for: ServerName("srv.example")!)
        _ = await discovery.destination(for: ServerName("none.example")!)
        #expect(nameserver.queries == asked)
        #expect(nameserver.tcpQueries == 1)
    }

    @Test func anUnansweringNameserverMeansNoRecords() async throws {
        // A UDP socket that never replies: the lookup gives up within its timeout.
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) } }
        let resolver = SRVResolver(nameservers: [.init(host: "127.0.0.1", port: UInt16(bigEndian: address.sin_port))], timeout: .milliseconds(300))
        #expect(await resolver.lookup("_matrix-fed._tcp.srv.example").isEmpty)
    }
}

/// A nameserver for the tests: answers SRV questions from `zone` over UDP and TCP on one
/// loopback port; names in `truncate` get an empty truncated UDP answer; others NXDOMAIN.
final class TestNameserver: Sendable {
    let port: UInt16
    private let udp: Int32
    private let tcp: Int32
    private let counts = Mutex((udp: 0, tcp: 0))
    var queries: Int { counts.withLock { $0.udp + $0.tcp } }
    var tcpQueries: Int { counts.withLock { $0.tcp } }

    init(zone: [String: [SRVRecord]], truncate: Set<String>) throws {
        let datagram = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let stream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        udp = datagram
        tcp = stream
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(datagram, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(datagram, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        var reuse: Int32 = 1
        setsockopt(stream, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stream, $0, length) } }) == 0,
            listen(stream, 4) == 0
        else { throw POSIXError(.EADDRINUSE) }
        let (udp, tcp) = (datagram, stream)
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                var peer = sockaddr_in()
                var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                let count = buffer.withUnsafeMutableBytes { bytes in
                    withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, bytes.baseAddress, bytes.count, 0, $0, &peerLength) } }
                }
                guard count > 0 else { return }
                counts.withLock { $0.udp += 1 }
                let query = Array(buffer.prefix(count))
                let name = Self.questionName(query)
                let reply = truncate.contains(name) ? Self.reply(to: query, records: [], truncated: true) : Self.reply(to: query, records: zone[name])
                _ = reply.withUnsafeBytes { bytes in
                    withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, bytes.baseAddress, bytes.count, 0, $0, peerLength) } }
                }
            }
        }
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(tcp, nil, nil)
                guard connection >= 0 else { return }
                var prefix = [UInt8](repeating: 0, count: 2)
                guard recv(connection, &prefix, 2, Int32(MSG_WAITALL)) == 2 else { close(connection); continue }
                var query = [UInt8](repeating: 0, count: Int(prefix[0]) << 8 | Int(prefix[1]))
                guard recv(connection, &query, query.count, Int32(MSG_WAITALL)) == query.count else { close(connection); continue }
                counts.withLock { $0.tcp += 1 }
                let reply = Self.reply(to: query, records: zone[Self.questionName(query)])
                let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xFF)] + reply
                _ = send(connection, framed, framed.count, 0)
                close(connection)
            }
        }
    }

    func stop() {
        shutdown(udp, Int32(SHUT_RDWR))
        shutdown(tcp, Int32(SHUT_RDWR))
        close(udp)
        close(tcp)
    }

    static func questionName(_ query: [UInt8]) -> String {
        var labels: [String] = []
        var position = 12
        while position < query.count, query[position] != 0 {
            let count = Int(query[position])
            guard position + 1 + count <= query.count else { break }
            labels.append(String(decoding: query[(position + 1)...(position + count)], as: UTF8.self))
            position += count + 1
        }
        return labels.joined(separator: ".")
    }

    /// The answer to `query`: its ID and question, then the records, whose owner name is a
    /// compression pointer to the question (as real nameservers write it); nil is NXDOMAIN.
    static func reply(to query: [UInt8], records: [SRVRecord]?, truncated: Bool = false) -> [UInt8] {
        let questionEnd = 12 + (questionName(query).isEmpty ? 1 : questionName(query).utf8.count + 2) + 4
        var flags: UInt16 = 0x8180
        if truncated { flags |= 0x0200 }
        if records == nil { flags |= 3 }
        let answers = records ?? []
        var bytes = Array(query[0..<2]) + [UInt8(flags >> 8), UInt8(flags & 0xFF), 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
        bytes += query[12..<questionEnd]
        for record in answers {
            let target = SRVMessage.encode(name: record.target) ?? [0]
            let data = [UInt8(record.priority >> 8), UInt8(record.priority & 0xFF), UInt8(record.weight >> 8), UInt8(record.weight & 0xFF),
                UInt8(record.port >> 8), UInt8(record.port & 0xFF)] + target
            bytes += [0xC0, 12, 0, 33, 0, 1]
            bytes += [UInt8(record.ttl >> 24), UInt8((record.ttl >> 16) & 0xFF), UInt8((record.ttl >> 8) & 0xFF), UInt8(record.ttl & 0xFF)]
            bytes += [UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
        }
        return bytes
    }
}
