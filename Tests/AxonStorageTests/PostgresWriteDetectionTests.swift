@testable import AxonStorage
import Testing

/// A PostgreSQL statement that may write runs in a transaction of its own, so that what its
/// triggers report reaches this node's caches; missing one would leave them stale.
@Suite struct PostgresWriteDetectionTests {
    @Test func onlyPlainReadsSkipTheTransaction() {
        #expect(!PostgresStorage.mayWrite("SELECT 1"))
        #expect(!PostgresStorage.mayWrite("\n  select user_id FROM users"))
        #expect(!PostgresStorage.mayWrite("WITH RECURSIVE chain(id) AS (SELECT 1) SELECT id FROM chain"))
        #expect(PostgresStorage.mayWrite("INSERT INTO users (user_id) VALUES ($1)"))
        #expect(PostgresStorage.mayWrite("UPDATE users SET erased = TRUE"))
        #expect(PostgresStorage.mayWrite("WITH gone AS (DELETE FROM typing RETURNING room_id) SELECT * FROM gone"))
        #expect(PostgresStorage.mayWrite("WITH moved AS (\n  UPDATE\n devices SET x = 1 RETURNING *) SELECT 1"))
        #expect(PostgresStorage.mayWrite("WITH x AS (SELECT 1) insert\tINTO t SELECT * FROM x"))
    }
}
