import Foundation

/// Databases on the test cluster, created with psql (one per test, dropped afterwards).
public enum PostgresTestDatabase {
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String { "AXON_TEST_POSTGRES_URL is not set: run scripts/test, or scripts/postgres-test-cluster and export its URL" }
    }

    public static func create() throws -> String {
        guard let base = ProcessInfo.processInfo.environment["AXON_TEST_POSTGRES_URL"] else { throw NotConfigured() }
        let name = "axon_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try psql(base, "CREATE DATABASE \(name)")
        guard var components = URLComponents(string: base) else { throw NotConfigured() }
        components.path = "/" + name
        return components.string!
    }

    public static func drop(_ url: String) {
        guard var components = URLComponents(string: url) else { return }
        let name = String(components.path.dropFirst())
        components.path = "/postgres"
        try? psql(components.string!, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Every row of every Axon table as text, to look for data that must never be stored.
    public static func dump(_ url: String) throws -> String {
        let tables = try output(url, "SELECT string_agg(tablename, ' ') FROM pg_tables WHERE schemaname = 'public'")
        var text = ""
        for table in tables.split(separator: " ") {
            text += try output(url, "SELECT t::text FROM \(table) t")
        }
        return text
    }

    static func output(_ url: String, _ command: String) throws -> String {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-qAtc", command]
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func psql(_ url: String, _ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-qAtc", command]
        try process.run()
        process.waitUntilExit()
        struct Failed: Error { let command: String }
        guard process.terminationStatus == 0 else { throw Failed(command: command) }
    }
}
