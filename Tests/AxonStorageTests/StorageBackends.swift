import AxonStorage
import Foundation
import AxonTestSupport
import Testing

/// The backends every conformance test runs against; each test gets a fresh, empty database.
/// PostgreSQL needs `AXON_TEST_POSTGRES_URL` (scripts/test starts a private cluster and sets
/// it); without it the PostgreSQL cases fail with that explanation rather than being skipped.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    func makeStorage() async throws -> TestDatabase {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-storage-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("axon.db").path
            return TestDatabase(storage: try SQLiteStorage(path: path), reopen: { try SQLiteStorage(path: path) }) {
                try? FileManager.default.removeItem(at: directory)
            }
        case .postgres:
            let url = try PostgresTestDatabase.create()
            return TestDatabase(
                storage: try await PostgresStorage(url: url, maximumConnections: 6),
                reopen: { try await PostgresStorage(url: url, maximumConnections: 6) }) {
                PostgresTestDatabase.drop(url)
            }
        }
    }
}

struct TestDatabase {
    let storage: any Storage
    /// Opens the same database again, as a restarted process would.
    let reopen: () async throws -> any Storage
    let cleanup: () -> Void
}

