import PostgresNIO

/// The admin listings' queries: built from filters, so their SQL is assembled, with every
/// value a binding.
extension PostgresStorage {
    /// The first column of the first row of a count query.
    func count(_ sql: String, _ bindings: PostgresBindings) async throws -> Int {
        var total: Int64 = 0
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) {
            total = try row.decode(Int64.self)
        }
        return Int(total)
    }

    /// One page of `sql` (everything before LIMIT), each row mapped.
    func page<T>(_ sql: String, _ bindings: PostgresBindings, limit: Int, offset: Int, _ map: (PostgresRow) throws -> T) async throws -> [T] {
        var binds = bindings
        binds.append(Int64(limit))
        binds.append(Int64(offset))
        let query = PostgresQuery(unsafeSQL: sql + " LIMIT $\(binds.count - 1) OFFSET $\(binds.count)", binds: binds)
        var mapped: [T] = []
        for try await row in try await client.query(query, logger: logger) { mapped.append(try map(row)) }
        return mapped
    }
}
