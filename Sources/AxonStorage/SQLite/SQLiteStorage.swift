import Foundation
import GRDB
import MatrixModel

/// The embedded backend: one SQLite file in WAL mode through a GRDB `DatabasePool`
/// (concurrent readers, one serialized writer).
public final class SQLiteStorage: Storage {
    let pool: DatabasePool
    /// Every write goes through this lock (see `AsyncMutex`).
    let writeLock = AsyncMutex()
    public let caches: StorageCaches

    public init(path: String, cacheBudgetBytes: Int = StorageCaches.defaultBudgetBytes) throws {
        let caches = StorageCaches(budgetBytes: cacheBudgetBytes)
        self.caches = caches
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // Room transactions span several writer accesses (see `writeRoom`), serialized by `writeLock`.
        configuration.allowsUnsafeTransactions = true
        let reportChange = DatabaseFunction("axon_cache_changed", argumentCount: 1, pure: false) { values in
            caches.record(String.fromDatabaseValue(values[0]) ?? "*")
            return nil
        }
        configuration.prepareDatabase { db in
            try db.cachedStatement(sql: "PRAGMA foreign_keys = ON").execute()
            db.add(function: reportChange)
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteMigrations.migrator.migrate(pool)
        try pool.writeWithoutTransaction { db in try Self.installCacheTriggers(db) }
    }

    /// Temporary triggers (this connection only, so the file's schema and other tools are
    /// untouched) that report every change of cached rows to `caches` (see `CacheChange`).
    private static func installCacheTriggers(_ db: Database) throws {
        for (index, watch) in CacheChange.watches.enumerated() {
            for operation in watch.operations {
                let row = operation == "DELETE" ? "OLD" : "NEW"
                let key = watch.keys.map { "\(row).\($0)" }.joined(separator: " || ' ' || ")
                let name = "axon_cache_\(index)_\(operation.prefix(6).lowercased())"
                try db.execute(sql: """
                    CREATE TEMP TRIGGER \(name) AFTER \(operation) ON main.\(watch.table) FOR EACH ROW
                    BEGIN SELECT axon_cache_changed('\(watch.kind) ' || \(key)); END
                    """)
            }
        }
    }

    public func close() async throws {
        try pool.close()
    }

    public var cacheStatistics: [CacheStatistics] { caches.statistics }

    public func saveReport(_ report: ContentReport) async throws {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO reports (reporter, room_id, event_id, user_id, reason, created_ts) VALUES (?, ?, ?, ?, ?, ?)").execute(arguments: [report.reporter, report.roomID, report.eventID, report.userID, report.reason, report.createdAt])
        }
    }

    public func reports() async throws -> [ContentReport] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM reports ORDER BY id")).map(Self.report)
        }
    }

    /// A SQLite file belongs to one process: every change is already local.
    public func listenForChanges(_ handler: @escaping @Sendable (StreamChange) -> Void) async throws {}

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writeLock.withLock {
            // After the transaction, never inside it: a reader must not reload the old rows.
            defer { caches.applyPending() }
            do {
                return try await self.pool.write(body)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.conflict(error.message ?? "constraint violated")
            }
        }
    }

    /// Reads run on the calling task's thread: GRDB's synchronous read takes a reader
    /// connection and runs the block in place when the reader is free, where the async read
    /// hands it to a dispatch queue and back, two thread wake-ups per query. Axon's reads are
    /// short indexed queries; measured on the fan-out benchmark (BENCHMARKS.md), the hand-off
    /// was most of a woken /sync's CPU.
    /// Takes the next position of the one global stream (inside the caller's write).
    static func nextPosition(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "UPDATE stream_positions SET position = position + 1 RETURNING position"))!
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try readInPlace(body)
    }

    /// Reads whose cost a client can stretch (search): GRDB runs them on its own reader
    /// queue, so a slow one never occupies one of the few cooperative threads every other
    /// request needs. Short indexed reads use `read`, which runs in place.
    public func readOffPool<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Not `async`, so the synchronous overload of `DatabasePool.read` is the one called.
    private func readInPlace<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }
}

extension JSON {
    /// Decodes JSON text stored by Axon itself. A NULL column is an empty object; text that
    /// does not parse is an error (the request fails with a 500), never a silently empty
    /// document: what was acknowledged must read back exactly or not at all.
    static func stored(_ text: String?) throws -> JSON {
        guard let text else { return .object([:]) }
        do {
            return try JSONParser.parse(text, maxDepth: JSONParser.storedMaxDepth)
        } catch {
            throw StoredDocumentError(reason: error.description)
        }
    }
}

/// A stored JSON document that could not be read back.
public struct StoredDocumentError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "stored JSON document is unreadable: \(reason)" }
}
