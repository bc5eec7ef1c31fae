/// How long the tokens of a session last (`*_lifetime_ms` in the config).
public struct TokenLifetimes: Sendable, Equatable {
    /// Access tokens of clients that can refresh them: short, as a stolen one is then soon useless.
    public var refreshableAccessMs: Int64 = 5 * 60 * 1000
    /// Refresh tokens, each from when it is issued; nil: until used or the device is removed.
    public var refreshMs: Int64?
    /// Access tokens of clients that cannot refresh; nil: they do not expire.
    public var nonRefreshableAccessMs: Int64?
    /// Login tokens (`/login/get_token`, the end of an SSO sign-in), which are single use.
    public var loginTokenMs: Int64 = 2 * 60 * 1000
    /// OAuth authorisation codes and device codes (RFC 6749 §4.1.2 and RFC 8628 want them short).
    public var authorizationCodeMs: Int64 = 10 * 60 * 1000
    public var deviceCodeMs: Int64 = 10 * 60 * 1000

    public init() {}
}
