import MatrixModel

/// A client registered through dynamic client registration (RFC 7591), with the metadata it
/// was registered with, as validated and answered.
public struct OAuthClient: Sendable, Equatable {
    public var clientID: String
    public var metadata: JSON
    public var createdAt: Int64

    public init(clientID: String, metadata: JSON, createdAt: Int64) {
        self.clientID = clientID
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// What an authorisation request asked for, kept while the user signs in and consents.
public struct OAuthAuthorizationRequest: Sendable, Equatable {
    public var id: String
    public var clientID: String
    public var redirectURI: String
    public var scope: String
    public var deviceID: String
    public var state: String?
    public var responseMode: String
    public var codeChallenge: String
    /// `prompt=create`: the user wants a new account.
    public var wantsRegistration: Bool
    public var createdAt: Int64

    public init(
        id: String, clientID: String, redirectURI: String, scope: String, deviceID: String, state: String?, responseMode: String,
        codeChallenge: String, wantsRegistration: Bool, createdAt: Int64
    ) {
        self.id = id
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.scope = scope
        self.deviceID = deviceID
        self.state = state
        self.responseMode = responseMode
        self.codeChallenge = codeChallenge
        self.wantsRegistration = wantsRegistration
        self.createdAt = createdAt
    }
}

/// An authorisation code: granted by a user to a client for one device, redeemed once.
public struct OAuthAuthorizationCode: Sendable, Equatable {
    public var codeHash: String
    public var clientID: String
    public var userID: String
    public var deviceID: String
    public var scope: String
    public var redirectURI: String
    public var codeChallenge: String
    public var expiresAt: Int64

    public init(
        codeHash: String, clientID: String, userID: String, deviceID: String, scope: String, redirectURI: String, codeChallenge: String,
        expiresAt: Int64
    ) {
        self.codeHash = codeHash
        self.clientID = clientID
        self.userID = userID
        self.deviceID = deviceID
        self.scope = scope
        self.redirectURI = redirectURI
        self.codeChallenge = codeChallenge
        self.expiresAt = expiresAt
    }
}

public enum CodeRedemption: Sendable, Equatable {
    case redeemed(OAuthAuthorizationCode)
    case unknown
    /// Redeemed before: whatever was issued for it may be in the wrong hands (RFC 6749 §4.1.2).
    case reused(userID: String, deviceID: String)
}

/// A device authorisation (RFC 8628): the client polls with the device code while the user
/// approves or denies it with the user code in a browser.
public struct OAuthDeviceAuthorization: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, approved, denied, exchanged
    }

    public var deviceCodeHash: String
    public var userCode: String
    public var clientID: String
    public var scope: String
    public var deviceID: String
    public var status: Status
    public var userID: String?
    public var createdAt: Int64
    public var expiresAt: Int64
    public var lastPolledAt: Int64?

    public init(
        deviceCodeHash: String, userCode: String, clientID: String, scope: String, deviceID: String, status: Status = .pending,
        userID: String? = nil, createdAt: Int64, expiresAt: Int64, lastPolledAt: Int64? = nil
    ) {
        self.deviceCodeHash = deviceCodeHash
        self.userCode = userCode
        self.clientID = clientID
        self.scope = scope
        self.deviceID = deviceID
        self.status = status
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastPolledAt = lastPolledAt
    }
}

/// A signed-in browser (the web pages of the authorisation server), by its cookie's hash.
public struct WebSession: Sendable, Equatable {
    public var userID: String
    public var createdAt: Int64
    public var lastActiveAt: Int64

    public init(userID: String, createdAt: Int64, lastActiveAt: Int64) {
        self.userID = userID
        self.createdAt = createdAt
        self.lastActiveAt = lastActiveAt
    }
}

/// Axon as an OAuth 2.0 authorisation server (spec "OAuth 2.0 API").
public protocol OAuthStore: Sendable {
    func saveOAuthClient(_ client: OAuthClient) async throws
    func oauthClient(id: String) async throws -> OAuthClient?

    func saveAuthorizationRequest(_ request: OAuthAuthorizationRequest) async throws
    func authorizationRequest(id: String) async throws -> OAuthAuthorizationRequest?
    func deleteAuthorizationRequest(id: String) async throws

    func saveAuthorizationCode(_ code: OAuthAuthorizationCode, createdAt: Int64) async throws
    /// Marks the code used and answers it; a second redemption is `reused`, an expired or
    /// unknown code `unknown`.
    func redeemAuthorizationCode(codeHash: String, now: Int64) async throws -> CodeRedemption

    func saveDeviceAuthorization(_ authorization: OAuthDeviceAuthorization) async throws
    func deviceAuthorization(userCode: String) async throws -> OAuthDeviceAuthorization?
    /// The user's answer to a pending authorisation; false when it is no longer pending.
    func decideDeviceAuthorization(userCode: String, userID: String, approved: Bool, now: Int64) async throws -> Bool
    /// A poll: the authorisation as it was, with its poll time moved to `now`; an approved
    /// one becomes exchanged, so only one poll gets its tokens.
    func pollDeviceAuthorization(deviceCodeHash: String, now: Int64) async throws -> OAuthDeviceAuthorization?

    func createWebSession(idHash: String, userID: String, now: Int64) async throws
    /// The signed-in user of a browser, when its session is younger than `notBefore` allows.
    func webSession(idHash: String, notBefore: Int64, now: Int64) async throws -> WebSession?
    func deleteWebSession(idHash: String) async throws

    /// The device an access or refresh token belongs to, with the client it was issued to.
    func tokenDevice(tokenHash: String) async throws -> (userID: String, deviceID: String, clientID: String?)?
    /// Which client each of the user's devices was authorised for (OAuth devices only).
    func oauthClientsByDevice(userID: String) async throws -> [String: String]

    /// Drops authorisation requests made before `requestsBefore`, codes and device
    /// authorisations expired before it, and web sessions idle since `sessionsIdleBefore`.
    func deleteExpiredOAuthState(requestsBefore: Int64, sessionsIdleBefore: Int64) async throws
}
