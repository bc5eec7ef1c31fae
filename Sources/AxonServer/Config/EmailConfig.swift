/// Outgoing mail (`email` in the config), for validating addresses and resetting passwords.
public struct EmailConfig: Sendable, Decodable, Equatable {
    public var smtpHost: String
    public var smtpPort: Int
    public var smtpSecurity: String
    public var smtpUser: String?
    public var smtpPassword: String?
    /// The sender of the mails, `Name <address>`.
    public var from: String
    public var caFile: String?
    /// How long a sent link stays good.
    public var validationLifetimeMs: Int64
    /// New accounts must confirm an email address.
    public var requiredForRegistration: Bool

    enum CodingKeys: String, CodingKey {
        case smtpHost = "smtp_host", smtpPort = "smtp_port", smtpSecurity = "smtp_security", smtpUser = "smtp_user"
        case smtpPassword = "smtp_pass", from = "notif_from", caFile = "ca_file", validationLifetimeMs = "validation_token_lifetime_ms"
        case requiredForRegistration = "registration_requires_email"
    }

    public init(smtpHost: String, smtpPort: Int, smtpSecurity: String = "starttls", from: String) {
        self.smtpHost = smtpHost
        self.smtpPort = smtpPort
        self.smtpSecurity = smtpSecurity
        self.from = from
        validationLifetimeMs = 60 * 60 * 1000
        requiredForRegistration = false
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let security = try container.decodeIfPresent(String.self, forKey: .smtpSecurity) ?? "starttls"
        self.init(
            smtpHost: try container.decode(String.self, forKey: .smtpHost),
            smtpPort: try container.decodeIfPresent(Int.self, forKey: .smtpPort) ?? (security == "tls" ? 465 : 25), smtpSecurity: security,
            from: try container.decode(String.self, forKey: .from))
        smtpUser = try container.decodeIfPresent(String.self, forKey: .smtpUser)
        smtpPassword = try container.decodeIfPresent(String.self, forKey: .smtpPassword)
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        validationLifetimeMs = try container.decodeIfPresent(Int64.self, forKey: .validationLifetimeMs) ?? validationLifetimeMs
        requiredForRegistration = try container.decodeIfPresent(Bool.self, forKey: .requiredForRegistration) ?? false
    }

    func validate() throws(ConfigError) {
        guard SMTPClient.Security(rawValue: smtpSecurity) != nil else { throw ConfigError("email.smtp_security must be none, starttls or tls") }
        guard (1...65535).contains(smtpPort) else { throw ConfigError("email.smtp_port must be a port number") }
        guard (smtpUser == nil) == (smtpPassword == nil) else { throw ConfigError("email.smtp_user and email.smtp_pass go together") }
        guard validationLifetimeMs > 0 else { throw ConfigError("email.validation_token_lifetime_ms must be positive") }
    }
}
