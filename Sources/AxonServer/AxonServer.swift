import AxonStorage
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle
import MatrixModel

/// Builds a running homeserver from a configuration: storage, keys, services and routes.
public struct AxonServer: Sendable {
    public static let version = "0.1.0"
    public let config: AxonConfig
    public let storage: any Storage
    public let signingKey: SigningKey
    public let metrics: ServerMetrics
    let routes: RouteTable
    let context: ServerContext

    public static func openStorage(_ config: AxonConfig, logger: Logger = Logger(label: "axon.storage")) async throws -> any Storage {
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        switch config.databaseLocation {
        case .sqlite(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            return try SQLiteStorage(path: path, cacheBudgetBytes: config.cacheMemoryMB << 20)
        case .postgres(let url):
            return try await PostgresStorage(
                url: url, maximumConnections: config.databaseMaxConnections, cacheBudgetBytes: config.cacheMemoryMB << 20, logger: logger)
        }
    }

    public init(config: AxonConfig, storage: any Storage, metrics: ServerMetrics = ServerMetrics(), logger: Logger) async throws {
        try config.validate()
        guard let serverName = ServerName(config.serverName) else { throw ConfigError("invalid server_name") }
        let appServices = try AppServiceRegistry.load(config, serverName: serverName)
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        self.config = config
        self.storage = storage
        self.metrics = metrics
        self.signingKey = try SigningKeyFile.loadOrCreate(
            path: config.signingKeyPath ?? (config.dataDirectory as NSString).appendingPathComponent("signing.key"))
        let accounts = try await AccountService(
            storage: storage, serverName: serverName, hasher: PasswordHasher(cost: config.bcryptCost), lifetimes: config.tokenLifetimes)
        let uia = UserInteractiveAuth(
            storage: storage, accounts: accounts, registrationTokens: config.registrationTokens,
            rateLimiter: config.rateLimitsEnabled ? RateLimiter(settings: config.rateLimits) : nil, ssoEnabled: !config.oidcProviders.isEmpty)
        let notifier = Notifier()
        let federation = FederationServices(config: config, serverName: serverName, signingKey: signingKey, storage: storage, logger: logger)
        let rooms = RoomService(
            storage: storage, serverName: serverName, writer: RoomEventWriter(
                serverName: serverName, signingKey: signingKey, remoteInvites: RemoteInvite(federation: federation),
                policy: RoomPolicy(storage: storage, client: federation.client)),
            visibility: HistoryVisibility(storage: storage), notifier: notifier, federationSender: federation.sender,
            pushGateway: PushGateway(
                storage: storage, attempts: config.pushRetryAttempts, initialDelay: .milliseconds(config.pushRetryInitialMs),
                allowPrivateAddresses: config.pushAllowPrivateAddresses, enabled: config.outboundEnabled, caFile: config.pushCAFile,
                logger: logger))
        context = ServerContext(
            config: config, serverName: serverName, storage: storage, accounts: accounts, uia: uia,
            signingKey: signingKey, rooms: rooms, notifier: notifier,
            presence: PresenceService(
                storage: storage, notifier: notifier, enabled: config.presenceEnabled, serverName: serverName,
                federationSender: config.outboundEnabled ? federation.sender : nil),
            federation: federation, appServices: appServices,
            appServiceSender: AppServiceSender(registry: appServices, storage: storage, notifier: notifier, logger: logger),
            logger: logger, oidc: OIDCClient(providers: config.oidcProviders, outboundEnabled: config.outboundEnabled))
        try await context.ensureAppServiceUsers()
        routes = RouteTable()
        context.registerDiscoveryRoutes(on: routes, metrics: metrics)
        context.registerRegistrationRoutes(on: routes)
        context.registerLoginRoutes(on: routes)
        context.registerSessionTokenRoutes(on: routes)
        context.registerOAuthRoutes(on: routes)
        context.registerAuthorizationRoutes(on: routes)
        context.registerDeviceLinkRoutes(on: routes)
        context.registerAccountPageRoutes(on: routes)
        context.registerWebPageRoutes(on: routes)
        context.registerSSORoutes(on: routes)
        context.registerAccountRoutes(on: routes)
        context.registerThreePIDRoutes(on: routes)
        context.registerEmailValidationRoutes(on: routes)
        context.registerDeviceRoutes(on: routes)
        context.registerProfileRoutes(on: routes)
        context.registerSharedSecretRoutes(on: routes)
        context.registerRoomRoutes(on: routes)
        context.registerMembershipRoutes(on: routes)
        context.registerRoomReadRoutes(on: routes)
        context.registerDirectoryRoutes(on: routes)
        context.registerSyncRoutes(on: routes)
        context.registerSlidingSyncRoutes(on: routes)
        context.registerLegacySyncRoutes(on: routes)
        context.registerAccountDataRoutes(on: routes)
        context.registerReceiptRoutes(on: routes)
        context.registerTypingRoutes(on: routes)
        context.registerUserInteractionRoutes(on: routes)
        context.registerPresenceRoutes(on: routes)
        context.registerUserDirectoryRoutes(on: routes)
        context.registerRelationRoutes(on: routes)
        context.registerRoomSummaryRoutes(on: routes)
        context.registerPushRuleRoutes(on: routes)
        context.registerPusherRoutes(on: routes)
        context.registerSearchRoutes(on: routes)
        context.registerKeyRoutes(on: routes)
        context.registerCrossSigningRoutes(on: routes)
        context.registerKeyBackupRoutes(on: routes)
        context.registerToDeviceRoutes(on: routes)
        context.registerMediaRoutes(on: routes)
        context.registerAdminRoutes(on: routes)
        context.registerAdminUserRoutes(on: routes)
        context.registerSpecAdminRoutes(on: routes)
        context.registerAdminDeviceRoutes(on: routes)
        context.registerAdminRoomRoutes(on: routes)
        context.registerAdminRoomDeletionRoutes(on: routes)
        context.registerAdminMediaRoutes(on: routes)
        context.registerAdminReportRoutes(on: routes)
        context.registerAdminRegistrationTokenRoutes(on: routes)
        context.registerAdminUserModerationRoutes(on: routes)
        context.registerAdminRoomModerationRoutes(on: routes)
        context.registerAdminHistoryRoutes(on: routes)
        context.registerAdminFederationRoutes(on: routes)
        context.registerServerNoticeRoutes(on: routes)
        context.registerAppServiceRoutes(on: routes)
        context.registerOpenIDRoutes(on: routes)
        context.registerServerKeyRoutes(on: routes)
        context.registerFederationQueryRoutes(on: routes)
        context.registerDirectoryQueryRoute(on: routes)
        context.registerOpenIDUserInfoRoute(on: routes)
        context.registerThirdPartyInviteRoutes(on: routes)
        context.registerFederationHierarchyRoutes(on: routes)
        context.registerTransactionRoutes(on: routes)
        context.registerEventReadRoutes(on: routes)
        context.registerJoinRoutes(on: routes)
        context.registerInviteRoutes(on: routes)
        context.registerFederationKeyRoutes(on: routes)
    }

    /// Every route served, as (method, pattern).
    public var routeList: [(method: String, pattern: String)] {
        routes.allRoutes.map { ($0.method.rawValue, $0.pattern) }
    }

    /// The account service, for tools such as `axon register-user` that write accounts directly.
    public var accounts: AccountService { context.accounts }

    /// One application serving every resource on the configured address, for tests that
    /// drive the router directly.
    public func application(logger: Logger) -> some ApplicationProtocol {
        application(for: AxonConfig.Listener(port: config.port, resources: AxonConfig.Listener.Resource.allCases), server: .http1(
            configuration: .init(idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))), withServices: true, logger: logger)
    }

    /// The applications of every configured listener (`listeners`), each serving its own
    /// resources; the first also runs the background services.
    public func listenerApplications(logger: Logger) throws -> [any Service] {
        try config.effectiveListeners.enumerated().map { index, listener in
            let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(Int64(config.idleTimeoutSeconds))))
            let server: HTTPServerBuilder
            if listener.tls == true, let certificate = config.tlsCertificatePath, let key = config.tlsPrivateKeyPath {
                let tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                server = try .tls(http1, tlsConfiguration: tls)
            } else {
                server = http1
            }
            return application(for: listener, server: server, withServices: index == 0, logger: logger)
        }
    }

    private func application(for listener: AxonConfig.Listener, server: HTTPServerBuilder, withServices: Bool, logger: Logger)
        -> some ApplicationProtocol & Service
    {
        var responder = AxonResponder(
            routes: routes, authenticator: Authenticator(storage: storage, appServices: context.appServices),
            rateLimiter: config.rateLimitsEnabled ? RateLimiter(settings: config.rateLimits) : nil,
            metrics: metrics, maxBodyBytes: config.maxRequestBytes, logger: logger)
        responder.resources = Set(listener.resources)
        responder.federationAuth = context.federation.authenticator
        let services: [any Service] = withServices ? [
            UIASessionSweeper(storage: storage), StreamChangeListener(storage: storage, notifier: context.notifier, presence: context.presence.recentlyWritten),
            TypingSweeper(storage: storage, notifier: context.notifier), context.federation.sender,
            AdminRoomTaskResumer(context: context), context.appServiceSender,
        ] : []
        return Application(
            responder: responder,
            // The idle timeout closes connections that send no complete header, stall a body
            // or sit idle between requests; a long-polling request in progress is not idle.
            server: server,
            configuration: .init(
                address: .hostname(listener.bindAddress ?? config.bindAddress, port: listener.port), serverName: "Axon",
                availableConnectionsDelegate: MaximumAvailableConnections(FileDescriptorLimit.maxConnections())),
            services: services,
            logger: logger)
    }
}
