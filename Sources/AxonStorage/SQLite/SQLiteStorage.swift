import Foundation
import GRDB
import MatrixModel

/// The embedded backend: one SQLite file in WAL mode through a GRDB `DatabasePool`
/// (concurrent readers, one serialized writer).
public final class SQLiteStorage: Storage {
    let pool: DatabasePool
    /// Every write goes through this lock (see `AsyncMutex`).
    let writeLock = AsyncMutex()

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // Room transactions span several writer accesses (see `writeRoom`), serialized by `writeLock`.
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteMigrations.migrator.migrate(pool)
    }

    public func close() async throws {
        try pool.close()
    }

    /// A SQLite file belongs to one process: every change is already local.
    public func listenForChanges(_ handler: @escaping @Sendable (StreamChange) -> Void) async throws {}

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writeLock.withLock {
            do {
                return try await self.pool.write(body)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.conflict(error.message ?? "constraint violated")
            }
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }
}

extension JSON {
    /// Decodes JSON text stored by Axon itself; corrupt rows read as an empty object rather
    /// than taking the server down.
    static func stored(_ text: String?) -> JSON {
        guard let text, let value = try? JSONParser.parse(text) else { return .object([:]) }
        return value
    }
}
