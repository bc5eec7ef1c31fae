import MatrixModel

/// A pair a refresh hands out: the new access token and the refresh token that replaces the
/// presented one. Only hashes are stored.
public struct RefreshedTokens: Sendable, Equatable {
    public var accessTokenHash: String
    public var accessExpiresAt: Int64?
    public var refreshTokenHash: String
    public var refreshExpiresAt: Int64?

    public init(accessTokenHash: String, accessExpiresAt: Int64?, refreshTokenHash: String, refreshExpiresAt: Int64?) {
        self.accessTokenHash = accessTokenHash
        self.accessExpiresAt = accessExpiresAt
        self.refreshTokenHash = refreshTokenHash
        self.refreshExpiresAt = refreshExpiresAt
    }
}

public enum RefreshOutcome: Sendable, Equatable {
    /// The new pair is stored for this device; `scope` is what an OAuth grant gave.
    case refreshed(userID: String, deviceID: String, scope: String?)
    /// Never issued, or its device is gone.
    case unknown
    /// Past its lifetime; the device stays (a soft logout).
    case expired(userID: String, deviceID: String)
    /// A refresh token already replaced and revoked came back: somebody else may hold it.
    /// The store has removed every token of the device.
    case reused(userID: String, deviceID: String)
}

/// Refresh tokens (spec v1.3) and login tokens (v1.7, and the end of an SSO sign-in).
public protocol SessionTokenStore: Sendable {
    /// Exchanges a refresh token for `replacement` in one transaction. A token presented
    /// again before its replacement was used is exchanged again (the client may have lost the
    /// answer), and the replacement it got before is dropped.
    /// A token issued to another OAuth client than `clientID` (nil: the legacy API) is unknown.
    func refreshSession(presentedHash: String, clientID: String?, replacement: RefreshedTokens, now: Int64) async throws -> RefreshOutcome
    /// The first use of a pair issued by a refresh: the refresh token it replaced, and the
    /// access token issued with that, are revoked.
    func confirmRefresh(refreshTokenHash: String, now: Int64) async throws

    func createLoginToken(tokenHash: String, userID: String, createdAt: Int64, expiresAt: Int64) async throws
    /// The user of an unexpired login token, which is spent by this call (single use).
    func consumeLoginToken(tokenHash: String, now: Int64) async throws -> String?

    /// Drops expired login tokens, and revoked refresh tokens older than `revokedBefore`
    /// (until then their reuse is recognised).
    func deleteExpiredSessionTokens(now: Int64, revokedBefore: Int64) async throws
}
