import Foundation
import MatrixModel
import Yams

/// Axon's settings. Precedence, lowest first: built-in defaults, the YAML file, `AXON_*`
/// environment variables, command-line flags.
public struct AxonConfig: Sendable, Equatable {
    public var serverName = "localhost"
    public var bindAddress = "127.0.0.1"
    public var port = 8008
    /// The URL clients reach this server at; derived from the listener when unset.
    public var publicBaseURL: String?
    public var dataDirectory = "./axon-data"
    /// The Ed25519 key file; nodes of one server share it. Defaults to `<data dir>/signing.key`.
    public var signingKeyPath: String?
    /// `sqlite:PATH`, a bare SQLite path, or (later) `postgres://…`; defaults to `<data dir>/axon.db`.
    public var database: String?
    /// PostgreSQL connections per node (several nodes share the server's `max_connections`).
    public var databaseMaxConnections = 40
    /// Open registration. Unset means: open only when the listener is loopback-only.
    public var enableRegistration: Bool?
    public var registrationSharedSecret: String?
    public var registrationTokens: [String] = []
    /// Registration needs a token even when `registration_tokens` is empty: one an admin
    /// created with the admin API.
    public var registrationRequiresToken = false
    /// Application service registration files (Synapse's format), loaded at start.
    public var appServiceConfigFiles: [String] = []
    public var allowGuestAccess = false
    public var bcryptCost = 12
    public var tokenLifetimes = TokenLifetimes()
    /// `POST /login/get_token`: a signed-in client may sign in another (with the password again).
    public var loginViaExistingSession = true
    /// The OAuth 2.0 API with Axon as its own authorisation server (`/auth_metadata`, the
    /// `/oauth2/*` endpoints and the sign-in pages).
    public var oauthEnabled = true
    /// `m.login.password` on the legacy `/login`; off leaves sign-in to the OAuth 2.0 API.
    public var passwordLoginEnabled = true
    /// Upstream OpenID Connect providers for single sign-on (`m.login.sso`).
    public var oidcProviders: [OIDCProviderConfig] = []
    /// Client `redirectUrl` prefixes an SSO login returns to without asking the user first.
    public var ssoRedirectAllowlist: [String] = []
    /// Outgoing mail for email validation and password resets; nil: no email.
    public var email: EmailConfig?
    public var rateLimitsEnabled = true
    public var rateLimits: [RateLimitKind: RateLimitSettings] = [
        .login: RateLimitSettings(perSecond: 0.2, burst: 5),
        .registration: RateLimitSettings(perSecond: 0.17, burst: 3),
        .message: RateLimitSettings(perSecond: 2, burst: 20),
        .refresh: RateLimitSettings(perSecond: 0.5, burst: 10),
        .loginToken: RateLimitSettings(perSecond: 1.0 / 30, burst: 4),
        .webPage: RateLimitSettings(perSecond: 2, burst: 30),
        .emailToken: RateLimitSettings(perSecond: 0.05, burst: 5),
    ]
    public var maxRequestBytes = 10 * 1024 * 1024
    /// TURN servers for VoIP, with coturn's REST-API shared secret.
    /// Presence can be switched off: clients then see everyone offline and no presence in /sync.
    public var presenceEnabled = true
    public var turnURIs: [String] = []
    public var turnSharedSecret: String?
    public var turnUserLifetimeSeconds = 86_400
    /// Push gateway delivery: attempts per notification, the first retry after this many
    /// milliseconds, doubling each time (8 attempts span about two minutes).
    /// Largest media upload accepted (bytes); larger ones get 413 M_TOO_LARGE.
    public var maxUploadBytes = 50 * 1024 * 1024
    /// Serve media on the deprecated unauthenticated `/_matrix/media/v3/download|thumbnail`
    /// endpoints. Off by default, as the spec's media freeze recommends for new media.
    public var serveUnauthenticatedMedia = false
    /// Allow push gateways on loopback and private networks (for tests and private deployments).
    public var pushAllowPrivateAddresses = false
    /// Whether the server sends anything to other hosts (push gateways; federation later).
    /// Off for fuzzing and sandboxes, so no client-supplied URL or name is ever contacted.
    public var outboundEnabled = true
    /// An extra CA (PEM) push gateways may be signed by, besides the system roots.
    public var pushCAFile: String?
    /// Connections idle this long (no complete request header, a stalled body, nothing
    /// between requests) are closed. Requests being answered, long polls included, are not idle.
    public var idleTimeoutSeconds = 30
    /// The longest a `/sync` or `/events` long poll waits, whatever `timeout` asks: keep it
    /// under a reverse proxy's read timeout.
    public var maxLongPollSeconds = 300
    /// Prometheus metrics at `GET /metrics`: off by default; with `metrics_token` set, the
    /// scraper must send it as a bearer token.
    public var metricsEnabled = false
    public var metricsToken: String?
    /// What the in-memory caches may hold together (tokens, events, state, memberships, push
    /// rules), in MiB; 0 turns caching off.
    public var cacheMemoryMB = 64
    public var pushRetryAttempts = 8
    public var pushRetryInitialMs = 1000
    public var logLevel = "info"
    public var logFormat = "text"

    /// Where requests are served and what each listener serves (Synapse's `listeners`).
    /// Unset: one plain-HTTP listener at `bind_address:port` serving everything (behind a
    /// TLS-terminating proxy, that includes federation), plus, when a TLS certificate is
    /// configured, a TLS listener on `federation_port` for federation, keys and media.
    public var listeners: [Listener]?
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    public var federationPort = 8448
    /// Federation: the peers allowed (nil: everyone).
    public var federationDomainWhitelist: [String]?
    /// Outbound federation TLS is verified against the system roots plus this CA (PEM).
    public var federationCAFile: String?
    /// Only for test networks: do not verify remote servers' certificates.
    public var federationVerifyTLS = true
    /// Networks outbound federation may reach although they are internal (CIDRs, e.g.
    /// `127.0.0.0/8` for a test federation on loopback). Everything else internal is refused.
    public var federationIPAllowlist: [String] = []
    /// Reach nothing outside `federation_ip_range_whitelist`, public addresses included: a
    /// fence for tests and closed federations, so no remote-supplied name is ever contacted.
    public var federationIPAllowlistOnly = false
    /// Notaries asked for keys when the server itself cannot be reached: server names.
    public var trustedKeyServers: [String] = []
    /// Nameservers asked for SRV records in server discovery ("ip" or "ip:port"); unset: the
    /// system's (`/etc/resolv.conf`).
    public var federationDNSServers: [String]?
    /// Served at `/.well-known/matrix/policy_server` when this host runs a policy server
    /// (spec "Policy Servers"); unset, that URI answers 404.
    public var policyServerPublicKeys: [String: String]?
    /// URL previews (`/preview_url`): fetched under the same address rules as federation —
    /// internal addresses only inside `url_preview_ip_range_whitelist`, and with `_only`
    /// nothing outside it.
    public var urlPreviewEnabled = true
    /// `/.well-known/matrix/support`: the admin to contact (a Matrix ID, or an email address,
    /// `mailto:` or not) and a support page URL; with neither, that URI answers 404.
    public var adminContact: String?
    public var supportPage: String?
    /// The local user who sends server notices (`/_synapse/admin/v1/send_server_notice`);
    /// unset, server notices are off.
    public var serverNoticesLocalpart: String?
    public var serverNoticesDisplayName = "Server Notices"
    public var serverNoticesRoomName = "Server Notices"
    public var urlPreviewIPAllowlist: [String] = []
    public var urlPreviewIPAllowlistOnly = false

    public struct Listener: Sendable, Equatable, Decodable {
        public enum Resource: String, Sendable, Decodable, CaseIterable {
            case client, federation, keys, media, metrics
        }
        public var bindAddress: String?
        public var port: Int
        public var tls: Bool?
        public var resources: [Resource]

        public init(bindAddress: String? = nil, port: Int, tls: Bool = false, resources: [Resource]) {
            self.bindAddress = bindAddress
            self.port = port
            self.tls = tls
            self.resources = resources
        }

        enum CodingKeys: String, CodingKey {
            case bindAddress = "bind_address"
            case port, tls, resources
        }
    }

    /// The listeners to start, with the defaults filled in.
    public var effectiveListeners: [Listener] {
        if let listeners { return listeners }
        var defaults = [Listener(bindAddress: bindAddress, port: port, resources: Listener.Resource.allCases)]
        if tlsCertificatePath != nil {
            defaults.append(Listener(bindAddress: bindAddress, port: federationPort, tls: true, resources: [.federation, .keys, .media]))
        }
        return defaults
    }

    public init() {}

    public var isLoopbackOnly: Bool {
        ["127.0.0.1", "::1", "localhost"].contains(bindAddress) || bindAddress.hasPrefix("127.")
    }

    public var registrationOpen: Bool { enableRegistration ?? isLoopbackOnly }

    public var baseURL: String {
        if let publicBaseURL { return publicBaseURL.hasSuffix("/") ? publicBaseURL : publicBaseURL + "/" }
        let host = bindAddress.contains(":") ? "[\(bindAddress)]" : bindAddress
        return "http://\(host == "127.0.0.1" && serverName == "localhost" ? "localhost" : host):\(port)/"
    }

    public enum DatabaseLocation: Equatable, Sendable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public var databaseLocation: DatabaseLocation {
        guard let database else { return .sqlite(path: (dataDirectory as NSString).appendingPathComponent("axon.db")) }
        if database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") { return .postgres(url: database) }
        if database.hasPrefix("sqlite:") { return .sqlite(path: String(database.dropFirst("sqlite:".count))) }
        return .sqlite(path: database)
    }

    /// Checks what a typo could break; the message names the setting.
    public func validate() throws(ConfigError) {
        guard ServerName.isValid(serverName) else { throw ConfigError("server_name '\(serverName)' is not a valid Matrix server name") }
        guard (1...65535).contains(port) else { throw ConfigError("port \(port) is out of range") }
        guard (4...31).contains(bcryptCost) else { throw ConfigError("bcrypt_cost must be between 4 and 31") }
        guard maxRequestBytes > 0 else { throw ConfigError("max_request_bytes must be positive") }
        guard idleTimeoutSeconds > 0 else { throw ConfigError("idle_timeout_seconds must be positive") }
        guard (0...65536).contains(cacheMemoryMB) else { throw ConfigError("cache_memory_mb must be between 0 and 65536") }
        guard maxLongPollSeconds >= 0 else { throw ConfigError("max_long_poll_seconds must not be negative") }
        for (kind, limit) in rateLimits where limit.perSecond < 0.001 || limit.burst < 1 {
            throw ConfigError("rate_limits.\(kind.rawValue): per_second must be at least 0.001 and burst at least 1")
        }
        if case .postgres(let url) = databaseLocation {
            guard let components = URLComponents(string: url), components.host?.isEmpty == false,
                components.path.count > 1
            else { throw ConfigError("database: '\(url)' is not a postgres://user[:password]@host[:port]/database URL") }
        }
        guard databaseMaxConnections >= 2 else { throw ConfigError("database_max_connections must be at least 2") }
        guard maxUploadBytes > 0 else { throw ConfigError("max_upload_bytes must be positive") }
        guard pushRetryAttempts >= 1, pushRetryAttempts <= 30, pushRetryInitialMs >= 1 else {
            throw ConfigError("push_retry_attempts must be between 1 and 30 and push_retry_initial_ms at least 1")
        }
        guard ["text", "json"].contains(logFormat) else { throw ConfigError("log_format must be 'text' or 'json'") }
        guard (1...65535).contains(federationPort) else { throw ConfigError("federation_port \(federationPort) is out of range") }
        for listener in effectiveListeners {
            guard (1...65535).contains(listener.port) else { throw ConfigError("listeners: port \(listener.port) is out of range") }
            if listener.tls == true, tlsCertificatePath == nil || tlsPrivateKeyPath == nil {
                throw ConfigError("listeners: a TLS listener needs tls_certificate_path and tls_private_key_path")
            }
        }
        if (tlsCertificatePath == nil) != (tlsPrivateKeyPath == nil) {
            throw ConfigError("tls_certificate_path and tls_private_key_path go together")
        }
        for range in federationIPAllowlist where IPRange(range) == nil {
            throw ConfigError("federation_ip_range_whitelist: '\(range)' is not a CIDR range")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Values a layer (file, environment, flags) sets; nil leaves the lower layer's value.
public struct ConfigOverrides: Sendable, Decodable {
    public var serverName: String?
    public var bindAddress: String?
    public var port: Int?
    public var publicBaseURL: String?
    public var dataDirectory: String?
    public var signingKeyPath: String?
    public var database: String?
    public var databaseMaxConnections: Int?
    public var enableRegistration: Bool?
    public var registrationSharedSecret: String?
    public var registrationTokens: [String]?
    public var registrationRequiresToken: Bool?
    public var appServiceConfigFiles: [String]?
    public var allowGuestAccess: Bool?
    public var bcryptCost: Int?
    public var refreshableAccessTokenLifetimeMs: Int64?
    public var refreshTokenLifetimeMs: Int64?
    public var nonRefreshableAccessTokenLifetimeMs: Int64?
    public var loginTokenLifetimeMs: Int64?
    public var loginViaExistingSession: Bool?
    public var oauthEnabled: Bool?
    public var passwordLoginEnabled: Bool?
    public var oidcProviders: [OIDCProviderConfig]?
    public var ssoRedirectAllowlist: [String]?
    public var email: EmailConfig?
    public var rateLimitsEnabled: Bool?
    public var rateLimits: [String: RateLimitFileSettings]?
    public var maxRequestBytes: Int?
    public var presenceEnabled: Bool?
    public var turnURIs: [String]?
    public var turnSharedSecret: String?
    public var turnUserLifetimeSeconds: Int?
    public var pushRetryAttempts: Int?
    public var pushRetryInitialMs: Int?
    public var pushAllowPrivateAddresses: Bool?
    public var outboundEnabled: Bool?
    public var pushCAFile: String?
    public var idleTimeoutSeconds: Int?
    public var maxLongPollSeconds: Int?
    public var metricsEnabled: Bool?
    public var metricsToken: String?
    public var cacheMemoryMB: Int?
    public var maxUploadBytes: Int?
    public var serveUnauthenticatedMedia: Bool?
    public var logLevel: String?
    public var logFormat: String?
    public var listeners: [AxonConfig.Listener]?
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    public var federationPort: Int?
    public var federationDomainWhitelist: [String]?
    public var federationCAFile: String?
    public var federationVerifyTLS: Bool?
    public var federationIPAllowlist: [String]?
    public var federationIPAllowlistOnly: Bool?
    public var trustedKeyServers: [String]?
    public var federationDNSServers: [String]?
    public var policyServerPublicKeys: [String: String]?
    public var urlPreviewEnabled: Bool?
    public var adminContact: String?
    public var supportPage: String?
    public var serverNoticesLocalpart: String?
    public var serverNoticesDisplayName: String?
    public var serverNoticesRoomName: String?
    public var urlPreviewIPAllowlist: [String]?
    public var urlPreviewIPAllowlistOnly: Bool?

    public init() {}

    public struct RateLimitFileSettings: Sendable, Decodable {
        public var perSecond: Double
        public var burst: Double

        enum CodingKeys: String, CodingKey {
            case perSecond = "per_second"
            case burst
        }
    }

    enum CodingKeys: String, CodingKey {
        case serverName = "server_name"
        case bindAddress = "bind_address"
        case port
        case publicBaseURL = "public_baseurl"
        case dataDirectory = "data_dir"
        case signingKeyPath = "signing_key_path"
        case database
        case databaseMaxConnections = "database_max_connections"
        case enableRegistration = "enable_registration"
        case registrationSharedSecret = "registration_shared_secret"
        case registrationTokens = "registration_tokens"
        case registrationRequiresToken = "registration_requires_token"
        case appServiceConfigFiles = "app_service_config_files"
        case allowGuestAccess = "allow_guest_access"
        case bcryptCost = "bcrypt_cost"
        case refreshableAccessTokenLifetimeMs = "refreshable_access_token_lifetime_ms"
        case refreshTokenLifetimeMs = "refresh_token_lifetime_ms"
        case nonRefreshableAccessTokenLifetimeMs = "nonrefreshable_access_token_lifetime_ms"
        case loginTokenLifetimeMs = "login_token_lifetime_ms"
        case loginViaExistingSession = "login_via_existing_session"
        case oauthEnabled = "oauth_enabled"
        case passwordLoginEnabled = "password_login_enabled"
        case oidcProviders = "oidc_providers"
        case ssoRedirectAllowlist = "sso_redirect_allowlist"
        case email
        case rateLimitsEnabled = "rate_limits_enabled"
        case rateLimits = "rate_limits"
        case maxRequestBytes = "max_request_bytes"
        case presenceEnabled = "presence_enabled"
        case turnURIs = "turn_uris"
        case turnSharedSecret = "turn_shared_secret"
        case turnUserLifetimeSeconds = "turn_user_lifetime_seconds"
        case pushRetryAttempts = "push_retry_attempts"
        case pushRetryInitialMs = "push_retry_initial_ms"
        case pushAllowPrivateAddresses = "push_allow_private_addresses"
        case outboundEnabled = "outbound_enabled"
        case pushCAFile = "push_ca_file"
        case idleTimeoutSeconds = "idle_timeout_seconds"
        case maxLongPollSeconds = "max_long_poll_seconds"
        case metricsEnabled = "metrics_enabled"
        case metricsToken = "metrics_token"
        case cacheMemoryMB = "cache_memory_mb"
        case maxUploadBytes = "max_upload_bytes"
        case serveUnauthenticatedMedia = "serve_unauthenticated_media"
        case logLevel = "log_level"
        case logFormat = "log_format"
        case listeners
        case tlsCertificatePath = "tls_certificate_path"
        case tlsPrivateKeyPath = "tls_private_key_path"
        case federationPort = "federation_port"
        case federationDomainWhitelist = "federation_domain_whitelist"
        case federationCAFile = "federation_custom_ca_file"
        case federationVerifyTLS = "federation_verify_tls"
        case federationIPAllowlist = "federation_ip_range_whitelist"
        case federationIPAllowlistOnly = "federation_ip_range_whitelist_only"
        case trustedKeyServers = "trusted_key_servers"
        case federationDNSServers = "federation_dns_servers"
        case policyServerPublicKeys = "policy_server_public_keys"
        case urlPreviewEnabled = "url_preview_enabled"
        case adminContact = "admin_contact"
        case supportPage = "support_page"
        case serverNoticesLocalpart = "server_notices_localpart"
        case serverNoticesDisplayName = "server_notices_display_name"
        case serverNoticesRoomName = "server_notices_room_name"
        case urlPreviewIPAllowlist = "url_preview_ip_range_whitelist"
        case urlPreviewIPAllowlistOnly = "url_preview_ip_range_whitelist_only"
    }

    public static func fromYAML(_ text: String) throws -> ConfigOverrides {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return ConfigOverrides() }
        do {
            return try YAMLDecoder().decode(ConfigOverrides.self, from: text)
        } catch let error as DecodingError {
            throw ConfigError("config file: \(Self.describe(error))")
        }
    }

    /// `AXON_SERVER_NAME`, `AXON_PORT`, … — one per setting, named after its YAML key.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigError) -> ConfigOverrides {
        var overrides = ConfigOverrides()
        func value(_ key: CodingKeys) -> String? { environment["AXON_" + key.rawValue.uppercased()] }
        func bool(_ key: CodingKeys) throws(ConfigError) -> Bool? {
            guard let text = value(key) else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigError("AXON_\(key.rawValue.uppercased()) must be true or false")
            }
        }
        func int(_ key: CodingKeys) throws(ConfigError) -> Int? {
            guard let text = value(key) else { return nil }
            guard let number = Int(text) else { throw ConfigError("AXON_\(key.rawValue.uppercased()) must be a number") }
            return number
        }
        overrides.serverName = value(.serverName)
        overrides.bindAddress = value(.bindAddress)
        overrides.port = try int(.port)
        overrides.publicBaseURL = value(.publicBaseURL)
        overrides.dataDirectory = value(.dataDirectory)
        overrides.signingKeyPath = value(.signingKeyPath)
        overrides.database = value(.database)
        overrides.databaseMaxConnections = try int(.databaseMaxConnections)
        overrides.enableRegistration = try bool(.enableRegistration)
        overrides.registrationSharedSecret = value(.registrationSharedSecret)
        overrides.registrationTokens = value(.registrationTokens).map { $0.split(separator: ",").map(String.init) }
        overrides.registrationRequiresToken = try bool(.registrationRequiresToken)
        overrides.appServiceConfigFiles = value(.appServiceConfigFiles).map { $0.split(separator: ",").map(String.init) }
        overrides.allowGuestAccess = try bool(.allowGuestAccess)
        overrides.bcryptCost = try int(.bcryptCost)
        overrides.refreshableAccessTokenLifetimeMs = try int(.refreshableAccessTokenLifetimeMs).map(Int64.init)
        overrides.refreshTokenLifetimeMs = try int(.refreshTokenLifetimeMs).map(Int64.init)
        overrides.nonRefreshableAccessTokenLifetimeMs = try int(.nonRefreshableAccessTokenLifetimeMs).map(Int64.init)
        overrides.loginTokenLifetimeMs = try int(.loginTokenLifetimeMs).map(Int64.init)
        overrides.loginViaExistingSession = try bool(.loginViaExistingSession)
        overrides.oauthEnabled = try bool(.oauthEnabled)
        overrides.passwordLoginEnabled = try bool(.passwordLoginEnabled)
        overrides.rateLimitsEnabled = try bool(.rateLimitsEnabled)
        overrides.maxRequestBytes = try int(.maxRequestBytes)
        overrides.presenceEnabled = try bool(.presenceEnabled)
        overrides.turnURIs = value(.turnURIs).map { $0.split(separator: ",").map(String.init) }
        overrides.turnSharedSecret = value(.turnSharedSecret)
        overrides.turnUserLifetimeSeconds = try int(.turnUserLifetimeSeconds)
        overrides.pushRetryAttempts = try int(.pushRetryAttempts)
        overrides.pushRetryInitialMs = try int(.pushRetryInitialMs)
        overrides.pushAllowPrivateAddresses = try bool(.pushAllowPrivateAddresses)
        overrides.outboundEnabled = try bool(.outboundEnabled)
        overrides.pushCAFile = value(.pushCAFile)
        overrides.idleTimeoutSeconds = try int(.idleTimeoutSeconds)
        overrides.maxLongPollSeconds = try int(.maxLongPollSeconds)
        overrides.metricsEnabled = try bool(.metricsEnabled)
        overrides.metricsToken = value(.metricsToken)
        overrides.cacheMemoryMB = try int(.cacheMemoryMB)
        overrides.maxUploadBytes = try int(.maxUploadBytes)
        overrides.serveUnauthenticatedMedia = try bool(.serveUnauthenticatedMedia)
        overrides.logLevel = value(.logLevel)
        overrides.logFormat = value(.logFormat)
        overrides.tlsCertificatePath = value(.tlsCertificatePath)
        overrides.tlsPrivateKeyPath = value(.tlsPrivateKeyPath)
        overrides.federationPort = try int(.federationPort)
        overrides.federationDomainWhitelist = value(.federationDomainWhitelist).map { $0.split(separator: ",").map(String.init) }
        overrides.federationCAFile = value(.federationCAFile)
        overrides.federationVerifyTLS = try bool(.federationVerifyTLS)
        overrides.federationIPAllowlist = value(.federationIPAllowlist).map { $0.split(separator: ",").map(String.init) }
        overrides.federationIPAllowlistOnly = try bool(.federationIPAllowlistOnly)
        overrides.trustedKeyServers = value(.trustedKeyServers).map { $0.split(separator: ",").map(String.init) }
        overrides.federationDNSServers = value(.federationDNSServers).map { $0.split(separator: ",").map(String.init) }
        overrides.urlPreviewEnabled = try bool(.urlPreviewEnabled)
        overrides.adminContact = value(.adminContact)
        overrides.supportPage = value(.supportPage)
        overrides.serverNoticesLocalpart = value(.serverNoticesLocalpart)
        overrides.serverNoticesDisplayName = value(.serverNoticesDisplayName)
        overrides.serverNoticesRoomName = value(.serverNoticesRoomName)
        overrides.urlPreviewIPAllowlist = value(.urlPreviewIPAllowlist).map { $0.split(separator: ",").map(String.init) }
        overrides.urlPreviewIPAllowlistOnly = try bool(.urlPreviewIPAllowlistOnly)
        return overrides
    }

    public func apply(to config: inout AxonConfig) throws(ConfigError) {
        if let serverName { config.serverName = serverName }
        if let bindAddress { config.bindAddress = bindAddress }
        if let port { config.port = port }
        if let publicBaseURL { config.publicBaseURL = publicBaseURL }
        if let dataDirectory { config.dataDirectory = dataDirectory }
        if let signingKeyPath { config.signingKeyPath = signingKeyPath }
        if let database { config.database = database }
        if let databaseMaxConnections { config.databaseMaxConnections = databaseMaxConnections }
        if let enableRegistration { config.enableRegistration = enableRegistration }
        if let registrationSharedSecret { config.registrationSharedSecret = registrationSharedSecret }
        if let registrationTokens { config.registrationTokens = registrationTokens }
        if let registrationRequiresToken { config.registrationRequiresToken = registrationRequiresToken }
        if let appServiceConfigFiles { config.appServiceConfigFiles = appServiceConfigFiles }
        if let allowGuestAccess { config.allowGuestAccess = allowGuestAccess }
        if let bcryptCost { config.bcryptCost = bcryptCost }
        for (key, value) in [
            (CodingKeys.refreshableAccessTokenLifetimeMs, refreshableAccessTokenLifetimeMs), (.refreshTokenLifetimeMs, refreshTokenLifetimeMs),
            (.nonRefreshableAccessTokenLifetimeMs, nonRefreshableAccessTokenLifetimeMs), (.loginTokenLifetimeMs, loginTokenLifetimeMs),
        ] where (value ?? 1) <= 0 {
            throw ConfigError("\(key.rawValue) must be a positive number of milliseconds")
        }
        if let refreshableAccessTokenLifetimeMs { config.tokenLifetimes.refreshableAccessMs = refreshableAccessTokenLifetimeMs }
        if let refreshTokenLifetimeMs { config.tokenLifetimes.refreshMs = refreshTokenLifetimeMs }
        if let nonRefreshableAccessTokenLifetimeMs { config.tokenLifetimes.nonRefreshableAccessMs = nonRefreshableAccessTokenLifetimeMs }
        if let loginTokenLifetimeMs { config.tokenLifetimes.loginTokenMs = loginTokenLifetimeMs }
        if let loginViaExistingSession { config.loginViaExistingSession = loginViaExistingSession }
        if let oauthEnabled { config.oauthEnabled = oauthEnabled }
        if let passwordLoginEnabled { config.passwordLoginEnabled = passwordLoginEnabled }
        if let oidcProviders {
            for provider in oidcProviders { try provider.validate() }
            guard Set(oidcProviders.map(\.id)).count == oidcProviders.count else { throw ConfigError("oidc_providers: idp_id values must differ") }
            config.oidcProviders = oidcProviders
        }
        if let ssoRedirectAllowlist { config.ssoRedirectAllowlist = ssoRedirectAllowlist }
        if let email {
            try email.validate()
            config.email = email
        }
        if let rateLimitsEnabled { config.rateLimitsEnabled = rateLimitsEnabled }
        for (name, settings) in rateLimits ?? [:] {
            guard let kind = RateLimitKind(rawValue: name) else {
                throw ConfigError("rate_limits: unknown action '\(name)' (known: \(RateLimitKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            config.rateLimits[kind] = RateLimitSettings(perSecond: settings.perSecond, burst: settings.burst)
        }
        if let maxRequestBytes { config.maxRequestBytes = maxRequestBytes }
        if let presenceEnabled { config.presenceEnabled = presenceEnabled }
        if let turnURIs { config.turnURIs = turnURIs }
        if let turnSharedSecret { config.turnSharedSecret = turnSharedSecret }
        if let turnUserLifetimeSeconds { config.turnUserLifetimeSeconds = turnUserLifetimeSeconds }
        if let pushRetryAttempts { config.pushRetryAttempts = pushRetryAttempts }
        if let pushRetryInitialMs { config.pushRetryInitialMs = pushRetryInitialMs }
        if let pushAllowPrivateAddresses { config.pushAllowPrivateAddresses = pushAllowPrivateAddresses }
        if let outboundEnabled { config.outboundEnabled = outboundEnabled }
        if let pushCAFile { config.pushCAFile = pushCAFile }
        if let idleTimeoutSeconds { config.idleTimeoutSeconds = idleTimeoutSeconds }
        if let maxLongPollSeconds { config.maxLongPollSeconds = maxLongPollSeconds }
        if let metricsEnabled { config.metricsEnabled = metricsEnabled }
        if let metricsToken { config.metricsToken = metricsToken }
        if let cacheMemoryMB { config.cacheMemoryMB = cacheMemoryMB }
        if let maxUploadBytes { config.maxUploadBytes = maxUploadBytes }
        if let serveUnauthenticatedMedia { config.serveUnauthenticatedMedia = serveUnauthenticatedMedia }
        if let logLevel { config.logLevel = logLevel }
        if let logFormat { config.logFormat = logFormat }
        if let listeners { config.listeners = listeners }
        if let tlsCertificatePath { config.tlsCertificatePath = tlsCertificatePath }
        if let tlsPrivateKeyPath { config.tlsPrivateKeyPath = tlsPrivateKeyPath }
        if let federationPort { config.federationPort = federationPort }
        if let federationDomainWhitelist { config.federationDomainWhitelist = federationDomainWhitelist }
        if let federationCAFile { config.federationCAFile = federationCAFile }
        if let federationVerifyTLS { config.federationVerifyTLS = federationVerifyTLS }
        if let federationIPAllowlist { config.federationIPAllowlist = federationIPAllowlist }
        if let trustedKeyServers { config.trustedKeyServers = trustedKeyServers }
        if let federationDNSServers { config.federationDNSServers = federationDNSServers }
        if let urlPreviewEnabled { config.urlPreviewEnabled = urlPreviewEnabled }
        if let adminContact { config.adminContact = adminContact }
        if let supportPage { config.supportPage = supportPage }
        if let serverNoticesLocalpart { config.serverNoticesLocalpart = serverNoticesLocalpart }
        if let serverNoticesDisplayName { config.serverNoticesDisplayName = serverNoticesDisplayName }
        if let serverNoticesRoomName { config.serverNoticesRoomName = serverNoticesRoomName }
        if let urlPreviewIPAllowlist {
            guard urlPreviewIPAllowlist.allSatisfy({ IPRange($0) != nil }) else {
                throw ConfigError("url_preview_ip_range_whitelist entries must be addresses or CIDR ranges")
            }
            config.urlPreviewIPAllowlist = urlPreviewIPAllowlist
        }
        if let urlPreviewIPAllowlistOnly { config.urlPreviewIPAllowlistOnly = urlPreviewIPAllowlistOnly }
        if let policyServerPublicKeys {
            guard policyServerPublicKeys["ed25519"] != nil else {
                throw ConfigError("policy_server_public_keys must contain an 'ed25519' key")
            }
            config.policyServerPublicKeys = policyServerPublicKeys
        }
        if let federationIPAllowlistOnly { config.federationIPAllowlistOnly = federationIPAllowlistOnly }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
            .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

extension AxonConfig {
    /// Builds the effective config from a file (optional), the environment and flag overrides.
    public static func load(file: String?, environment: [String: String], flags: ConfigOverrides) throws -> AxonConfig {
        var config = AxonConfig()
        if let path = file ?? environment["AXON_CONFIG"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError("cannot read config file \(path)")
            }
            try ConfigOverrides.fromYAML(text).apply(to: &config)
        }
        try ConfigOverrides.fromEnvironment(environment).apply(to: &config)
        try flags.apply(to: &config)
        try config.validate()
        return config
    }
}
