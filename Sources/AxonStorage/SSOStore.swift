import MatrixModel

/// A sign-in started with an upstream OpenID Connect provider, waiting for its callback.
public struct SSOAttempt: Sendable, Equatable {
    public enum Purpose: String, Sendable {
        /// `/login/sso/redirect`: ends in a login token for the client's `redirectUrl`.
        case login
        /// User-interactive auth (`m.login.sso`): completes the stage of a UIA session.
        case uia
        /// The authorisation server's own pages: ends in a web session.
        case web
    }

    public var stateHash: String
    public var providerID: String
    /// The browser that started it (a hash of its cookie): the callback must come back to it.
    public var browserHash: String
    public var nonce: String
    public var codeVerifier: String
    public var purpose: Purpose
    /// The client's `redirectUrl`, the UIA session ID, or the page to go on to.
    public var target: String
    public var createdAt: Int64

    public init(
        stateHash: String, providerID: String, browserHash: String, nonce: String, codeVerifier: String, purpose: Purpose, target: String,
        createdAt: Int64
    ) {
        self.stateHash = stateHash
        self.providerID = providerID
        self.browserHash = browserHash
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.purpose = purpose
        self.target = target
        self.createdAt = createdAt
    }
}

/// Single sign-on through upstream OpenID Connect providers.
public protocol SSOStore: Sendable {
    func saveSSOAttempt(_ attempt: SSOAttempt) async throws
    /// The attempt, which is spent by this call: a callback is used once.
    func takeSSOAttempt(stateHash: String) async throws -> SSOAttempt?
    func deleteSSOAttempts(olderThan: Int64) async throws

    /// The local user a provider's subject is linked to.
    func externalUser(providerID: String, subject: String) async throws -> String?
    /// Links the subject to the user; false when the subject is linked already.
    func linkExternalID(providerID: String, subject: String, userID: String, now: Int64) async throws -> Bool
    /// The provider subjects linked to a user.
    func externalIDs(userID: String) async throws -> [(providerID: String, subject: String)]
    /// Removes the user's links (an admin replacing them).
    func unlinkExternalIDs(userID: String) async throws
}
