import ArgumentParser
import AxonServer
import AxonStorage
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import MatrixModel
import Metrics
import Prometheus

@main
struct Axon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Axon, a Matrix homeserver.",
        subcommands: [Serve.self, RegisterUser.self, GenerateConfig.self, Admin.self],
        defaultSubcommand: Serve.self)
}

/// Options shared by every command that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (see `axon generate-config`).")
    var config: String?
    @Option(name: .long, help: "Server name, the domain of user IDs (default localhost).")
    var serverName: String?
    @Option(name: .long, help: "Address to listen on (default 127.0.0.1).")
    var bind: String?
    @Option(name: .long, help: "Port to listen on (default 8008).")
    var port: Int?
    @Option(name: .long, help: "Directory for the signing key and the SQLite database (default ./axon-data).")
    var dataDir: String?
    @Option(name: .long, help: "Ed25519 signing key file, shared by all nodes of a server (default <data-dir>/signing.key).")
    var signingKey: String?
    @Option(name: .long, help: "Database: a SQLite path, sqlite:PATH, or postgres://user@host:port/db (default <data-dir>/axon.db).")
    var database: String?
    @Flag(name: .long, help: "Open registration (m.login.dummy).")
    var enableRegistration = false
    @Flag(name: .long, help: "Close registration even on a loopback listener.")
    var disableRegistration = false
    @Option(name: .long, help: "Secret for /_synapse/admin/v1/register.")
    var registrationSharedSecret: String?
    @Option(name: .long, help: "bcrypt cost for password hashes (default 12).")
    var bcryptCost: Int?
    @Flag(name: .long, help: "Turn rate limiting off (for tests and benchmarks).")
    var noRateLimits = false
    @Flag(name: .long, help: "Allow guest accounts (register?kind=guest).")
    var allowGuestAccess = false
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    func load() throws -> AxonConfig {
        var flags = ConfigOverrides()
        flags.serverName = serverName
        flags.bindAddress = bind
        flags.port = port
        flags.dataDirectory = dataDir
        flags.database = database
        flags.signingKeyPath = signingKey
        if enableRegistration { flags.enableRegistration = true }
        if disableRegistration { flags.enableRegistration = false }
        flags.registrationSharedSecret = registrationSharedSecret
        flags.bcryptCost = bcryptCost
        if noRateLimits { flags.rateLimitsEnabled = false }
        if allowGuestAccess { flags.allowGuestAccess = true }
        flags.logLevel = logLevel
        do {
            return try AxonConfig.load(file: config, environment: ProcessInfo.processInfo.environment, flags: flags)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
    }
}

func bootstrapLogging(_ config: AxonConfig) -> Logger {
    let level = Logger.Level(rawValue: config.logLevel) ?? .info
    LoggingSystem.bootstrap { label in
        var handler: any LogHandler =
            config.logFormat == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "axon")
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the homeserver.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let logger = bootstrapLogging(config)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let storage = try await AxonServer.openStorage(config)
        let server = try await AxonServer(config: config, storage: storage, metrics: ServerMetrics(registry: registry), logger: logger)
        logger.info(
            "Axon starting",
            metadata: [
                "server_name": "\(config.serverName)",
                "listeners": "\(config.effectiveListeners.map { "\($0.bindAddress ?? config.bindAddress):\($0.port)\($0.tls == true ? " tls" : "") \($0.resources.map(\.rawValue))" })",
                "database": "\(config.databaseLocation)", "registration": "\(config.registrationOpen ? "open" : "closed")",
                "signing_key": "\(server.signingKey.keyID)",
            ])
        // SIGINT/SIGTERM stop accepting connections and let in-flight requests finish; every
        // write is its own transaction, so nothing acknowledged is lost.
        let group = ServiceGroup(
            configuration: .init(services: try server.listenerApplications(logger: logger), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await storage.close()
        logger.info("Axon stopped")
    }
}

struct RegisterUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register-user", abstract: "Create a user directly in the database.")

    @OptionGroup var options: ConfigOptions
    @Flag(name: .long, help: "Make the user a server admin.")
    var admin = false
    @Argument(help: "The localpart of the new user (alice for @alice:server).")
    var name: String
    @Argument(help: "The new user's password.")
    var password: String

    func run() async throws {
        try await createUser(options, name: name, password: password, admin: admin)
    }
}

struct GenerateConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-config", abstract: "Print a commented configuration file.")

    @Option(name: .long, help: "Server name to put in the file.")
    var serverName = "localhost"
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    func run() throws {
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let text = AxonConfig.template(serverName: serverName, sharedSecret: UnpaddedBase64.encode(secretBytes, urlSafe: true))
        if let output {
            guard !FileManager.default.fileExists(atPath: output) else {
                throw ValidationError("\(output) exists; not overwriting it")
            }
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print("Wrote \(output)")
        } else {
            print(text, terminator: "")
        }
    }
}
