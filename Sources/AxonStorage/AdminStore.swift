import MatrixModel

/// What `GET /_synapse/admin/v2/users` may ask for: a page of accounts, filtered and sorted.
public struct AccountListQuery: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        case name, displayname, creationTS = "creation_ts", admin, deactivated, isGuest = "is_guest"

        /// The `users` column to sort by; the display name lives in the profile JSON, read
        /// with each backend's own expression.
        func column(displayName: String) -> String {
            switch self {
            case .name: "user_id"
            case .displayname: displayName
            case .creationTS: "created_ts"
            case .admin: "is_admin"
            case .deactivated: "deactivated"
            case .isGuest: "is_guest"
            }
        }
    }

    public var from = 0
    public var limit = 100
    /// A substring of the user ID or the display name (case-insensitive).
    public var name: String?
    /// Nil: both; false: no guests; true: guests only.
    public var guests: Bool?
    /// Nil: both; false: active accounts only (the default); true: deactivated ones only.
    public var deactivated: Bool? = false
    /// Nil: both; true: admins only; false: no admins.
    public var admins: Bool?
    public var order: Order = .name
    public var descending = false

    public init() {}
}

/// Server administration over accounts (the Synapse-compatible admin API, `axon admin`).
public protocol AdminStore: Sendable {
    /// One page of matching accounts, and how many match in all.
    func listAccounts(_ query: AccountListQuery) async throws -> (accounts: [Account], total: Int)
    func setAdmin(userID: String, isAdmin: Bool) async throws
    /// Lifts a deactivation (the admin API lets an admin bring an account back, with a new
    /// password); erasure stays.
    func reactivateAccount(userID: String) async throws
    /// Nil when there is no such account.
    func accountRestrictions(userID: String) async throws -> (suspended: Bool, locked: Bool)?
    func setSuspended(userID: String, suspended: Bool) async throws
    func setLocked(userID: String, locked: Bool) async throws
    /// Invites the user sent at or after `since` (Synapse's `sent_invite_count`, spam checks).
    func sentInviteCount(userID: String, since: Int64) async throws -> Int
    /// Rooms the user has ever joined, here (Synapse's `cumulative_joined_room_count`).
    func everJoinedRoomCount(userID: String) async throws -> Int
    func setShadowBanned(userID: String, shadowBanned: Bool) async throws
    func rateLimitOverride(userID: String) async throws -> RateLimitOverride?
    /// Sets the user's own limit, or removes it when nil.
    func setRateLimitOverride(userID: String, _ override: RateLimitOverride?) async throws
}
