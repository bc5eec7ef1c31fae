import AxonStorage
import Foundation

/// The backends every conformance test runs against. PostgreSQL joins this list when its
/// implementation lands; each test gets a fresh, empty database.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite

    var testDescription: String { rawValue }

    func makeStorage() throws -> TestDatabase {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-storage-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("axon.db").path
            return TestDatabase(storage: try SQLiteStorage(path: path), reopen: { try SQLiteStorage(path: path) }) {
                try? FileManager.default.removeItem(at: directory)
            }
        }
    }
}

struct TestDatabase {
    let storage: any Storage
    /// Opens the same database again, as a restarted process would.
    let reopen: () throws -> any Storage
    let cleanup: () -> Void
}

import Testing
