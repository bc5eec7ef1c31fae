import AxonServer
import AxonStorage
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import MatrixModel
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// What one client can make the whole server wait for (issue 11, M3 to M5).
@Suite struct ResourceTests {
    /// Reads a client can stretch run off the cooperative threads: with more slow reads in
    /// flight than the machine has cores, `/versions` still answers while they run.
    @Test func slowReadsDoNotHoldUpOtherRequests() async throws {
        try await TestServer.run { server in
            guard let sqlite = server.server.storage as? SQLiteStorage else { return }
            let finished = Counter()
            let slowReads = ProcessInfo.processInfo.activeProcessorCount + 1
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<slowReads {
                    group.addTask {
                        _ = try await sqlite.readOffPool { db in
                            try Int.fetchOne(
                                db, sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 15000000) SELECT count(*) FROM c")
                        }
                        finished.add()
                    }
                }
                try await Task.sleep(for: .milliseconds(200))
                for _ in 0..<5 {
                    #expect(try await server.call(.get, "/_matrix/client/versions").status == 200)
                }
                #expect(finished.value == 0, "the slow reads ended before /versions answered")
                try await group.waitForAll()
            }
        }
    }

    /// `max_long_poll_seconds` bounds every long poll, the default `/events` wait included.
    @Test func longPollsEndAtTheConfiguredCap() async throws {
        try await TestServer.run(configure: { $0.maxLongPollSeconds = 1 }) { server in
            let alice = try await server.register("alice")
            let started = ContinuousClock.now
            #expect(try await server.call(.get, "/_matrix/client/v3/events", token: alice.token).status == 200)
            #expect(try await server.sync(alice.token, "timeout=60000&since=s999999").status < 500)
            #expect(ContinuousClock.now - started < .seconds(20), "a poll outlived the one-second cap")
        }
    }

    /// A connection that never finishes its request header is closed after the idle timeout.
    @Test func halfSentRequestsAreClosed() async throws {
        var config = AxonConfig()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-idle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        config.dataDirectory = directory.path
        config.port = Int.random(in: 20_000...40_000)
        config.idleTimeoutSeconds = 1
        guard ProcessInfo.processInfo.environment["AXON_TEST_STORAGE"] != "postgres" else { return }
        let logger = Logger(label: "axon-test")
        let storage = try await AxonServer.openStorage(config)
        let server = try await AxonServer(config: config, storage: storage, logger: logger)
        try await server.application(logger: logger).test(.live) { client in
            let port = try #require(client.port)
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
            let partial = Array("GET /_matrix/client/versions HTTP/1.1\r\nHost: localhost\r\n".utf8)
            #expect(send(socket, partial, partial.count, 0) == partial.count)
            // Wait up to 5 s for the server to close: recv returns 0 at end of stream.
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 512)
            let started = ContinuousClock.now
            let received = recv(socket, &buffer, buffer.count, 0)
            #expect(received == 0, "the half-sent request was not closed")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
        try await storage.close()
    }
}
