import MatrixModel

/// Everything Axon persists, behind one protocol so the SQLite and PostgreSQL backends are
/// interchangeable and run the same conformance tests. Every method is one transaction:
/// either all of its writes land or none do.
/// A report of content, a room or a user, kept for the server's admins.
public struct ContentReport: Sendable, Equatable {
    /// Assigned when stored; 0 before.
    public var id: Int64 = 0
    public var reporter: String
    public var roomID: String?
    public var eventID: String?
    public var userID: String?
    public var reason: String?
    public var createdAt: Int64

    public init(reporter: String, roomID: String?, eventID: String?, userID: String?, reason: String?, createdAt: Int64) {
        self.reporter = reporter
        self.roomID = roomID
        self.eventID = eventID
        self.userID = userID
        self.reason = reason
        self.createdAt = createdAt
    }
}

public protocol Storage: AccountStore, RoomStore, SyncStore, PushStore, SearchStore, KeyStore, MediaStore, FederationStore, RoomGraphStore, AdminStore,
    AdminRoomStore, AdminRoomTaskStore, AdminMediaStore, AdminReportStore, RegistrationTokenStore,
    AdminDestinationStore, AppServiceStore, SlidingSyncStore, SessionTokenStore, OAuthStore, SSOStore, ThreePIDStore
{
    func saveReport(_ report: ContentReport) async throws
    func reports() async throws -> [ContentReport]

    /// What each in-memory cache holds and did (`/metrics`).
    var cacheStatistics: [CacheStatistics] { get }

    /// Closes connections after in-flight writes finish.
    func close() async throws

    /// Delivers changes written by other processes sharing the database until cancelled, and
    /// applies their cache changes (`CacheChange`) to this process's caches on the way.
    /// Backends that only one process can open return at once.
    func listenForChanges(_ handler: @escaping @Sendable (StreamChange) -> Void) async throws
}

/// A position written somewhere: in a room (events, public receipts) or for a user (account
/// data, private receipts, membership changes).
public enum StreamChange: Sendable, Equatable {
    case room(String, position: Int64)
    case user(String, position: Int64)

    /// The NOTIFY payload form: `r <position> <room>` or `u <position> <user>`.
    public init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, let position = Int64(parts[1]) else { return nil }
        switch parts[0] {
        case "r": self = .room(String(parts[2]), position: position)
        case "u": self = .user(String(parts[2]), position: position)
        default: return nil
        }
    }
}

public protocol AccountStore: Sendable {
    /// Creates the account, and optionally its first device and access token, atomically.
    /// Throws `StorageError.conflict` when the user ID exists.
    func createAccount(_ account: Account, session: NewSession?) async throws
    func account(userID: String) async throws -> Account?
    /// Finds an account by localpart ignoring ASCII case (login is case-insensitive).
    func accounts(matchingLowercasedUserID userID: String) async throws -> [Account]
    /// A number not used before, for generated (guest, unnamed) localparts.
    func nextGeneratedUserNumber() async throws -> Int64

    /// Logs in: creates or reuses the device and gives it this token; an existing device's
    /// old tokens are revoked.
    func createSession(_ session: NewSession) async throws
    func tokenOwner(tokenHash: String) async throws -> TokenOwner?
    /// Removes one device with all its tokens.
    /// Returns the position of the device-list change, nil when no device was deleted.
    @discardableResult
    func deleteDevices(userID: String, deviceIDs: [String]) async throws -> Int64?
    /// Removes all devices and tokens of the user, except `keepingDeviceID` when given.
    @discardableResult
    func deleteAllDevices(userID: String, keepingDeviceID: String?) async throws -> Int64?
    func devices(userID: String) async throws -> [Device]
    func device(userID: String, deviceID: String) async throws -> Device?
    func setDeviceDisplayName(userID: String, deviceID: String, displayName: String?) async throws -> Bool
    func recordDeviceSeen(userID: String, deviceID: String, ip: String, userAgent: String?, at: Int64) async throws
    /// Turns a guest account into a full one with this password, keeping its user ID; false
    /// when the user is not (or no longer) a guest.
    func upgradeGuest(userID: String, passwordHash: String) async throws -> Bool
    /// OpenID tokens (`/openid/request_token`): only their hash is stored, until `expiresAt`.
    func createOpenIDToken(tokenHash: String, userID: String, expiresAt: Int64) async throws
    /// The user an unexpired OpenID token was issued to (for federation's `/openid/userinfo`).
    func openIDTokenUser(tokenHash: String, now: Int64) async throws -> String?

    func setPasswordHash(userID: String, hash: String) async throws
    /// Deactivation: the password is erased, every device and token removed, the flag set.
    /// With `erase`, account data goes too and the user is marked erased: from then on their
    /// events are served redacted to whoever was not joined when they were sent.
    @discardableResult
    func deactivateAccount(userID: String, erase: Bool) async throws -> Int64?
    /// Which of these users asked for erasure when they deactivated.
    func erasedUsers(among userIDs: Set<String>) async throws -> Set<String>
    /// Sets (or, with nil, removes) one profile field. Returns false when the user does not exist.
    func setProfileField(userID: String, key: String, value: JSON?) async throws -> Bool

    func saveUIASession(_ session: UIASession) async throws
    func uiaSession(id: String) async throws -> UIASession?
    func deleteUIASession(id: String) async throws
    func deleteUIASessions(olderThan: Int64) async throws
}
