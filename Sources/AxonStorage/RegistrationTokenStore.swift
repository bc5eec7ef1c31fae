/// A token that lets someone register (spec `m.login.registration_token`), as admins create
/// them (Synapse's registration tokens API).
public struct RegistrationToken: Sendable, Equatable {
    public var token: String
    /// Nil: unlimited.
    public var usesAllowed: Int64?
    /// Registrations under way with it. Axon counts a use when the registration completes,
    /// so this stays 0; it is kept for Synapse's shape.
    public var pending: Int64
    public var completed: Int64
    /// Milliseconds since the epoch after which it is no longer valid; nil: never.
    public var expiryTime: Int64?

    public init(token: String, usesAllowed: Int64?, pending: Int64 = 0, completed: Int64 = 0, expiryTime: Int64?) {
        self.token = token
        self.usesAllowed = usesAllowed
        self.pending = pending
        self.completed = completed
        self.expiryTime = expiryTime
    }

    public func isValid(at now: Int64) -> Bool {
        (usesAllowed.map { pending + completed < $0 } ?? true) && (expiryTime.map { $0 > now } ?? true)
    }
}

public protocol RegistrationTokenStore: Sendable {
    func registrationTokens() async throws -> [RegistrationToken]
    func registrationToken(_ token: String) async throws -> RegistrationToken?
    /// False when the token exists already.
    func createRegistrationToken(_ token: RegistrationToken) async throws -> Bool
    /// Replaces the limits of an existing token; false when there is none.
    func updateRegistrationToken(_ token: RegistrationToken) async throws -> Bool
    func deleteRegistrationToken(_ token: String) async throws -> Bool
    /// Counts one completed registration against the token, in one step with the check
    /// that it is still valid at `now`; false (and nothing counted) when it is not.
    func useRegistrationToken(_ token: String, now: Int64) async throws -> Bool
}
