import AxonServer
import Foundation
import Testing

@Suite struct ConfigTests {
    @Test func defaultsAreTheEmbeddedServer() throws {
        let config = try AxonConfig.load(file: nil, environment: [:], flags: ConfigOverrides())
        #expect(config.serverName == "localhost")
        #expect(config.bindAddress == "127.0.0.1")
        #expect(config.port == 8008)
        #expect(config.databaseLocation == .sqlite(path: "./axon-data/axon.db"))
        #expect(config.registrationOpen)
        #expect(config.bcryptCost == 12)
        #expect(config.rateLimitsEnabled)
    }

    @Test func registrationIsClosedByDefaultOffLoopback() throws {
        var flags = ConfigOverrides()
        flags.bindAddress = "0.0.0.0"
        #expect(try !AxonConfig.load(file: nil, environment: [:], flags: flags).registrationOpen)
    }

    @Test func fileThenEnvironmentThenFlags() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("axon-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try AxonConfig.template(serverName: "example.org", sharedSecret: "abc").write(toFile: path, atomically: true, encoding: .utf8)
        let fromFile = try AxonConfig.load(file: path, environment: [:], flags: ConfigOverrides())
        #expect(fromFile.serverName == "example.org")
        #expect(fromFile.registrationSharedSecret == "abc")
        #expect(fromFile.rateLimits[.login]?.burst == 5)

        var flags = ConfigOverrides()
        flags.port = 9000
        let layered = try AxonConfig.load(
            file: path, environment: ["AXON_PORT": "8448", "AXON_SERVER_NAME": "env.org", "AXON_RATE_LIMITS_ENABLED": "false"], flags: flags)
        #expect(layered.serverName == "env.org")
        #expect(layered.port == 9000)
        #expect(!layered.rateLimitsEnabled)
    }

    @Test func badValuesAreNamed() throws {
        var config = AxonConfig()
        #expect(throws: ConfigError.self) { try AxonConfig.load(file: nil, environment: ["AXON_PORT": "eighty"], flags: ConfigOverrides()) }
        #expect(throws: ConfigError.self) { try AxonConfig.load(file: nil, environment: ["AXON_SERVER_NAME": "bad_name"], flags: ConfigOverrides()) }
        #expect(throws: ConfigError.self) { try ConfigOverrides.fromYAML("port: [1]") }
        #expect(throws: ConfigError.self) { try AxonConfig.load(file: "/nonexistent/axon.yaml", environment: [:], flags: ConfigOverrides()) }
        #expect(throws: ConfigError.self) {
            try ConfigOverrides.fromYAML("rate_limits:\n  login: { per_second: 0.0000000000000000001, burst: 5 }").apply(to: &config)
            try config.validate()
        }
        var badURL = ConfigOverrides()
        badURL.database = "postgres://"
        #expect(throws: ConfigError.self) { try AxonConfig.load(file: nil, environment: [:], flags: badURL) }
        var flags = ConfigOverrides()
        flags.database = "postgres://u@h/db"
        #expect(try AxonConfig.load(file: nil, environment: [:], flags: flags).databaseLocation == .postgres(url: "postgres://u@h/db"))
    }
}
