import AxonTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import AxonStorage

/// Prepared statements on PostgreSQL (`PostgresPrepared.swift`).
@Suite struct PostgresPreparedTests {
    static let query: PostgresQuery = "SELECT \(Int64(7))::BIGINT + \(Int64(1))"

    /// A slot's statement first prepared in a transaction that already failed fails there, and
    /// PostgresNIO would remember that failure on the connection for good: the connection is
    /// closed instead, so a pool replaces it. A fresh connection runs the statement.
    @Test func aFailedTransactionLeavesNoBrokenStatementBehind() async throws {
        let url = try PostgresTestDatabase.create()
        defer { PostgresTestDatabase.drop(url) }
        let logger = Logger(label: "axon.test")
        func connect() async throws -> PostgresConnection {
            let components = try #require(URLComponents(string: url))
            let configuration = PostgresConnection.Configuration(
                host: components.host ?? "127.0.0.1", port: components.port ?? 5432, username: components.user ?? "postgres",
                password: components.password, database: String(components.path.dropFirst()), tls: .disable)
            return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        }
        let connection = try await connect()
        try await connection.rows("BEGIN", logger: logger)
        _ = try? await connection.rows("SELECT 1 / 0", logger: logger)
        await #expect(throws: (any Error).self) { try await connection.preparedRows(Self.query, logger: logger) }
        #expect(connection.isClosed)
        let fresh = try await connect()
        #expect(try await fresh.preparedRows(Self.query, logger: logger).first?.decode(Int64.self) == 8)
        try await fresh.close()
    }

    @Test func slotsNameEachTextOnceAndRunOutCleanly() {
        let slots = StatementSlots()
        let first = slots.slot(for: "SELECT 1")
        #expect(first != nil)
        #expect(slots.slot(for: "SELECT 1") == first)
        #expect(slots.slot(for: "SELECT 2") != first)
        for index in 3...StatementSlots.capacity { _ = slots.slot(for: "SELECT \(index)") }
        #expect(slots.slot(for: "SELECT 1") == first)
        #expect(slots.slot(for: "SELECT 0") == nil)
        #expect(slots.text(first!) == "SELECT 1")
    }
}
