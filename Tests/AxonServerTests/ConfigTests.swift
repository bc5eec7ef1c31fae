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

@Suite struct ListenerConfigTests {
    func load(_ yaml: String) throws -> AxonConfig {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("axon-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try AxonConfig.load(file: path, environment: [:], flags: ConfigOverrides())
    }

    @Test func defaultListenersFollowTheTLSSettings() throws {
        let plain = try load("port: 8008\n")
        #expect(plain.effectiveListeners == [AxonConfig.Listener(bindAddress: "127.0.0.1", port: 8008, resources: AxonConfig.Listener.Resource.allCases)])
        let tls = try load("tls_certificate_path: /c.pem\ntls_private_key_path: /k.pem\n")
        #expect(tls.effectiveListeners.count == 2)
        #expect(tls.effectiveListeners[1] == AxonConfig.Listener(bindAddress: "127.0.0.1", port: 8448, tls: true, resources: [.federation, .keys, .media]))
    }

    @Test func explicitListenersAndTheirMistakes() throws {
        let config = try load("""
            listeners:
              - port: 8008
                resources: [client, metrics]
              - port: 8009
                bind_address: 127.0.0.2
                resources: [federation, keys]
            federation_ip_range_whitelist: ['127.0.0.0/8', '::1/128']
            """)
        #expect(config.effectiveListeners.map(\.port) == [8008, 8009])
        #expect(config.effectiveListeners[1].resources == [.federation, .keys])
        #expect(throws: ConfigError.self) { try load("listeners:\n  - port: 8448\n    tls: true\n    resources: [federation]\n") }
        #expect(throws: ConfigError.self) { try load("tls_certificate_path: /c.pem\n") }
        #expect(throws: ConfigError.self) { try load("federation_ip_range_whitelist: ['127.0.0.0/33']\n") }
        #expect(throws: (any Error).self) { try load("listeners:\n  - port: 8008\n    resources: [everything]\n") }
    }
}
