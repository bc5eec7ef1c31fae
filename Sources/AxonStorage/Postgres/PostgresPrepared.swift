import PostgresNIO
import Synchronization

/// A hot statement PostgreSQL parses and plans once per connection instead of on every call:
/// reads, and writes to tables no cache watches (a write to a watched table must run through
/// `transaction`, which collects what its triggers report).
/// Measured with pgbench on this machine, the folded `/sync` statement takes 0.19 ms prepared
/// against 0.67 ms sent as an unnamed statement: most of a big statement's cost is parsing
/// and planning it. A conforming type names one statement; its `sql` is the text its query
/// builder produces, whose placeholders do not depend on the values bound.
///
/// Inside a transaction, see `executePrepared`: a transaction that already failed must not
/// leave a statement's failed preparation behind on its pooled connection.
protocol PreparedQuery {
    static var sql: String { get }
}

/// The PostgresNIO statement for a `PreparedQuery`: prepared under the type's name on each
/// pooled connection the first time it runs there, with the parameter types of that first
/// call's bindings (every call binds the same types in the same places).
struct Prepared<Query: PreparedQuery>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { "axon." + String(describing: Query.self) }
    static var sql: String { Query.sql }
    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresStorage {
    /// Runs a read as the prepared statement `statement`. A query whose text is not the
    /// statement's (a builder that changed shape) runs unprepared: never the wrong statement.
    func prepared<Query: PreparedQuery>(_ statement: Query.Type, _ query: PostgresQuery) async throws -> [PostgresRow] {
        guard query.sql == Query.sql else { return try await self.query(query) }
        do {
            return try await Self.collect(client.execute(Prepared<Query>(bindings: query.binds), logger: logger))
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    /// The same on a connection already held.
    @discardableResult
    static func prepared<Query: PreparedQuery>(
        _ statement: Query.Type, _ query: PostgresQuery, on connection: PostgresConnection, logger: Logger
    ) async throws -> [PostgresRow] {
        guard query.sql == Query.sql else { return try await connection.rows(query, logger: logger) }
        return try await executePrepared(Prepared<Query>(bindings: query.binds), on: connection, logger: logger)
    }

    /// Runs a prepared statement on a held connection. In a transaction that already failed,
    /// a preparation fails too, and PostgresNIO would remember that failure for the life of
    /// the connection: such a connection is closed (its transaction was lost anyway), so the
    /// pool opens a fresh one instead of failing that statement there for good.
    static func executePrepared<Statement: PostgresPreparedStatement>(
        _ statement: Statement, on connection: PostgresConnection, logger: Logger
    ) async throws -> [PostgresRow] where Statement.Row == PostgresRow {
        do {
            let rows: AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> = try await connection.execute(statement, logger: logger)
            return try await collect(rows)
        } catch let error as PSQLError {
            if error.serverInfo?[.sqlState] == "25P02" { try? await connection.close() }
            throw mapped(error)
        }
    }

    private static func collect(_ rows: AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow>) async throws -> [PostgresRow] {
        var collected: [PostgresRow] = []
        for try await row in rows { collected.append(row) }
        return collected
    }
}

/// Names for statement texts that have no `PreparedQuery` of their own (the room write
/// transaction's, a send is about twenty): the first `capacity` distinct texts each get a
/// slot, a prepared-statement name, for the life of the process; later ones run unnamed.
final class StatementSlots: Sendable {
    static let shared = StatementSlots()
    static let bits = 7
    static var capacity: Int { 1 << bits }
    private let state = Mutex<(slots: [String: Int], texts: [String])>(([:], []))

    func slot(for sql: String) -> Int? {
        state.withLock { state in
            if let slot = state.slots[sql] { return slot }
            guard state.texts.count < Self.capacity else { return nil }
            state.slots[sql] = state.texts.count
            state.texts.append(sql)
            return state.texts.count - 1
        }
    }

    func text(_ slot: Int) -> String { state.withLock { $0.texts[slot] } }
}

/// A slot number spelled as a type, one bit per level: PostgresNIO names prepared statements
/// by type, and these types stand for texts known only at run time.
protocol SlotBits { static var value: Int { get } }
enum NoBits: SlotBits { static var value: Int { 0 } }
enum Bit0<Higher: SlotBits>: SlotBits { static var value: Int { Higher.value << 1 } }
enum Bit1<Higher: SlotBits>: SlotBits { static var value: Int { Higher.value << 1 | 1 } }

struct SlotStatement<Bits: SlotBits>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { "axon.slot.\(Bits.value)" }
    static var sql: String { StatementSlots.shared.text(Bits.value) }
    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// `rows`, as the prepared statement of the text's slot when it has one.
    @discardableResult
    func preparedRows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        guard let slot = StatementSlots.shared.slot(for: query.sql) else { return try await rows(query, logger: logger) }
        return try await run(NoBits.self, slot: slot, bit: StatementSlots.bits - 1, query: query, logger: logger)
    }

    private func run<Bits: SlotBits>(_: Bits.Type, slot: Int, bit: Int, query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        guard bit >= 0 else {
            return try await PostgresStorage.executePrepared(SlotStatement<Bits>(bindings: query.binds), on: self, logger: logger)
        }
        if (slot >> bit) & 1 == 0 { return try await run(Bit0<Bits>.self, slot: slot, bit: bit - 1, query: query, logger: logger) }
        return try await run(Bit1<Bits>.self, slot: slot, bit: bit - 1, query: query, logger: logger)
    }
}
