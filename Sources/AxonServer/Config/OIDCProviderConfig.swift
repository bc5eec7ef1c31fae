/// An upstream OpenID Connect provider users sign in through (`oidc_providers` in the
/// config): Keycloak, Authentik, Google, GitLab, Dex or any other.
public struct OIDCProviderConfig: Sendable, Decodable, Equatable {
    /// Shown in `identity_providers` and in the URLs (`/login/sso/redirect/{idp_id}`).
    public var id: String
    public var name: String
    /// Its endpoints are discovered from `{issuer}/.well-known/openid-configuration`
    /// unless all three are given.
    public var issuer: String
    public var clientID: String
    /// Sent to the token endpoint (client_secret_post) when set; a public client otherwise.
    public var clientSecret: String?
    public var scopes: [String]
    public var pkce: Bool
    /// Which claims make the Matrix account on first sign-in.
    public var localpartClaim: String
    public var displayNameClaim: String
    public var emailClaim: String
    /// A first sign-in whose localpart names an existing account is linked to it; otherwise
    /// a free name is found by adding a number.
    public var allowExistingUsers: Bool
    /// An extra CA for a provider with a private certificate.
    public var caFile: String?
    public var authorizationEndpoint: String?
    public var tokenEndpoint: String?
    public var userinfoEndpoint: String?

    enum CodingKeys: String, CodingKey {
        case id = "idp_id", name = "idp_name", issuer, clientID = "client_id", clientSecret = "client_secret", scopes, pkce
        case localpartClaim = "localpart_claim", displayNameClaim = "display_name_claim", emailClaim = "email_claim"
        case allowExistingUsers = "allow_existing_users", caFile = "ca_file"
        case authorizationEndpoint = "authorization_endpoint", tokenEndpoint = "token_endpoint", userinfoEndpoint = "userinfo_endpoint"
    }

    public init(id: String, name: String, issuer: String, clientID: String, clientSecret: String? = nil) {
        self.id = id
        self.name = name
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        scopes = ["openid", "profile", "email"]
        pkce = true
        localpartClaim = "preferred_username"
        displayNameClaim = "name"
        emailClaim = "email"
        allowExistingUsers = false
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id), name: try container.decodeIfPresent(String.self, forKey: .name) ?? "",
            issuer: try container.decode(String.self, forKey: .issuer), clientID: try container.decode(String.self, forKey: .clientID),
            clientSecret: try container.decodeIfPresent(String.self, forKey: .clientSecret))
        if name.isEmpty { name = id }
        scopes = try container.decodeIfPresent([String].self, forKey: .scopes) ?? scopes
        pkce = try container.decodeIfPresent(Bool.self, forKey: .pkce) ?? pkce
        localpartClaim = try container.decodeIfPresent(String.self, forKey: .localpartClaim) ?? localpartClaim
        displayNameClaim = try container.decodeIfPresent(String.self, forKey: .displayNameClaim) ?? displayNameClaim
        emailClaim = try container.decodeIfPresent(String.self, forKey: .emailClaim) ?? emailClaim
        allowExistingUsers = try container.decodeIfPresent(Bool.self, forKey: .allowExistingUsers) ?? false
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        authorizationEndpoint = try container.decodeIfPresent(String.self, forKey: .authorizationEndpoint)
        tokenEndpoint = try container.decodeIfPresent(String.self, forKey: .tokenEndpoint)
        userinfoEndpoint = try container.decodeIfPresent(String.self, forKey: .userinfoEndpoint)
    }

    func validate() throws(ConfigError) {
        guard (1...255).contains(id.utf8.count),
            id.utf8.allSatisfy(\.isURIUnreserved)
        else { throw ConfigError("oidc_providers: idp_id '\(id)' must be 1 to 255 of A-Z a-z 0-9 - . _ ~") }
        guard issuer.hasPrefix("https://") || issuer.hasPrefix("http://") else {
            throw ConfigError("oidc_providers[\(id)]: issuer must be an http(s) URL")
        }
        guard scopes.contains("openid") else { throw ConfigError("oidc_providers[\(id)]: scopes must include 'openid'") }
    }
}
