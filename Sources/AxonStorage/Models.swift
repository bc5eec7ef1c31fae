import MatrixModel

public struct Account: Sendable, Equatable {
    public var userID: String
    public var passwordHash: String?
    public var isAdmin: Bool
    public var isGuest: Bool
    public var isDeactivated: Bool
    public var createdAt: Int64
    /// Profile fields: `displayname`, `avatar_url` and any custom field (spec v1.16+).
    public var profile: JSONObject
    /// What admins restricted (spec "Account suspension", "Account locking"; Synapse's shadow ban).
    public var isSuspended = false
    public var isLocked = false
    public var isShadowBanned = false

    public var displayName: String? { profile["displayname"]?.stringValue }
    public var avatarURL: String? { profile["avatar_url"]?.stringValue }

    public init(
        userID: String, passwordHash: String?, isAdmin: Bool = false, isGuest: Bool = false,
        isDeactivated: Bool = false, createdAt: Int64, profile: JSONObject = [:]
    ) {
        self.userID = userID
        self.passwordHash = passwordHash
        self.isAdmin = isAdmin
        self.isGuest = isGuest
        self.isDeactivated = isDeactivated
        self.createdAt = createdAt
        self.profile = profile
    }
}

public struct Device: Sendable, Equatable {
    public var userID: String
    public var deviceID: String
    public var displayName: String?
    public var lastSeenIP: String?
    public var lastSeenAt: Int64?
    public var lastSeenUserAgent: String?

    public init(
        userID: String, deviceID: String, displayName: String?, lastSeenIP: String? = nil, lastSeenAt: Int64? = nil,
        lastSeenUserAgent: String? = nil
    ) {
        self.userID = userID
        self.deviceID = deviceID
        self.displayName = displayName
        self.lastSeenIP = lastSeenIP
        self.lastSeenAt = lastSeenAt
        self.lastSeenUserAgent = lastSeenUserAgent
    }
}

/// A new login: the device it is for and the hash of its access token. Tokens are never
/// stored in the clear.
public struct NewSession: Sendable {
    public var device: Device
    /// Nil: a device without an access token (one an application service made, MSC4190).
    public var tokenHash: String?
    public var createdAt: Int64
    /// The client's address: a device is last seen at the login that creates it.
    public var ip: String
    /// When the access token stops working (nil: never).
    public var accessExpiresAt: Int64?
    /// A refresh token issued with the access token (`refresh_token: true`), and its end.
    public var refreshTokenHash: String?
    public var refreshExpiresAt: Int64?
    /// The OAuth client the session was authorised for, and the scope granted (OAuth 2.0 API).
    public var oauthClientID: String?
    public var scope: String?

    public init(
        device: Device, tokenHash: String?, createdAt: Int64, ip: String, accessExpiresAt: Int64? = nil,
        refreshTokenHash: String? = nil, refreshExpiresAt: Int64? = nil, oauthClientID: String? = nil, scope: String? = nil
    ) {
        self.device = device
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.ip = ip
        self.accessExpiresAt = accessExpiresAt
        self.refreshTokenHash = refreshTokenHash
        self.refreshExpiresAt = refreshExpiresAt
        self.oauthClientID = oauthClientID
        self.scope = scope
    }
}

/// A user's own message rate limit (Synapse's `override_ratelimit`); zero for both is none.
public struct RateLimitOverride: Sendable, Equatable {
    public var messagesPerSecond: Int64
    public var burstCount: Int64

    public init(messagesPerSecond: Int64, burstCount: Int64) {
        self.messagesPerSecond = messagesPerSecond
        self.burstCount = burstCount
    }
}

/// Who an access token belongs to.
public struct TokenOwner: Sendable, Equatable {
    public var userID: String
    public var deviceID: String
    public var isGuest: Bool
    public var isAdmin: Bool
    /// Suspended by an admin (spec "Account suspension"): may read, not act.
    public var isSuspended: Bool
    /// Locked by an admin (spec "Account locking"): every request is refused.
    public var isLocked: Bool
    /// Shadow-banned by an admin: what they send is answered as sent and reaches no one.
    public var isShadowBanned = false
    /// An admin's own message rate limit for this user, instead of the server's.
    public var rateLimitOverride: RateLimitOverride?
    /// The application service acting (its `as_token`), as this user.
    public var appServiceID: String?
    /// An application service registered with `rate_limited: false`.
    public var exemptFromRateLimits = false
    /// When the access token stops working (nil: never).
    public var expiresAt: Int64?
    /// The refresh token issued with this access token while the one it replaced is still
    /// usable: the first use of this token revokes that one (spec "Refreshing access tokens").
    public var unconfirmedRefreshTokenHash: String?

    public init(userID: String, deviceID: String, isGuest: Bool, isAdmin: Bool, isSuspended: Bool = false, isLocked: Bool = false) {
        self.userID = userID
        self.deviceID = deviceID
        self.isGuest = isGuest
        self.isAdmin = isAdmin
        self.isSuspended = isSuspended
        self.isLocked = isLocked
    }
}

/// A user-interactive authentication session: which stages are done, and what request it
/// was started for (a session must not be reused for a different operation).
public struct UIASession: Sendable, Equatable {
    public var sessionID: String
    public var operation: String
    public var userID: String?
    public var completedStages: [String]
    public var createdAt: Int64
    /// The first request's parameters, when the operation remembers them (registration).
    public var params: JSON?

    public init(sessionID: String, operation: String, userID: String?, completedStages: [String], createdAt: Int64, params: JSON? = nil) {
        self.sessionID = sessionID
        self.operation = operation
        self.userID = userID
        self.completedStages = completedStages
        self.createdAt = createdAt
        self.params = params
    }
}

public enum StorageError: Error, Sendable, Equatable {
    /// A unique key already exists (user ID taken, device ID in use...).
    case conflict(String)
    case notFound(String)
    /// Text the backend cannot store (PostgreSQL refuses NUL characters).
    case invalidText(String)
}
