import MatrixModel

/// A validation of an email address (spec "Adding Account Administrative Contact
/// Information"): a token sent to it, confirmed by following the link.
public struct ThreePIDValidation: Sendable, Equatable {
    public var sid: String
    public var clientSecret: String
    public var medium: String
    public var address: String
    public var tokenHash: String
    /// What the validation is for: `register`, `password` or `add`.
    public var purpose: String
    public var sendAttempt: Int64
    public var nextLink: String?
    public var createdAt: Int64
    public var expiresAt: Int64
    public var validatedAt: Int64?

    public init(
        sid: String, clientSecret: String, medium: String, address: String, tokenHash: String, purpose: String, sendAttempt: Int64,
        nextLink: String?, createdAt: Int64, expiresAt: Int64, validatedAt: Int64? = nil
    ) {
        self.sid = sid
        self.clientSecret = clientSecret
        self.medium = medium
        self.address = address
        self.tokenHash = tokenHash
        self.purpose = purpose
        self.sendAttempt = sendAttempt
        self.nextLink = nextLink
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.validatedAt = validatedAt
    }
}

/// A third-party identifier bound to an account.
public struct UserThreePID: Sendable, Equatable {
    public var medium: String
    public var address: String
    public var validatedAt: Int64
    public var addedAt: Int64

    public init(medium: String, address: String, validatedAt: Int64, addedAt: Int64) {
        self.medium = medium
        self.address = address
        self.validatedAt = validatedAt
        self.addedAt = addedAt
    }
}

public protocol ThreePIDStore: Sendable {
    /// The validation a client started for this address and purpose with this secret, if any
    /// (a repeated `requestToken` continues it).
    func threePIDValidation(clientSecret: String, medium: String, address: String, purpose: String) async throws -> ThreePIDValidation?
    func threePIDValidation(sid: String) async throws -> ThreePIDValidation?
    /// Inserts or replaces (by `sid`).
    func saveThreePIDValidation(_ validation: ThreePIDValidation) async throws
    /// Marks the validation done when the token and secret match and it has not expired.
    func confirmThreePIDValidation(sid: String, clientSecret: String, tokenHash: String, now: Int64) async throws -> ThreePIDValidation?
    func deleteThreePIDValidations(expiredBefore: Int64) async throws

    /// Binds the identifier; `StorageError.conflict` when another account has it.
    func bindThreePID(userID: String, _ threePID: UserThreePID) async throws
    func threePIDs(userID: String) async throws -> [UserThreePID]
    func threePIDUser(medium: String, address: String) async throws -> String?
    func unbindThreePID(userID: String, medium: String, address: String) async throws -> Bool
}
