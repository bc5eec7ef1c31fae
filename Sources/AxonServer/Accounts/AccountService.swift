import AxonStorage
import MatrixModel

/// Account rules shared by the HTTP API and the `axon register-user` command.
public struct AccountService: Sendable {
    let storage: any Storage
    let serverName: ServerName
    let hasher: PasswordHasher
    let lifetimes: TokenLifetimes
    /// A hash of a random string at the configured cost, checked when an account is unknown.
    private let dummyHash: String

    init(storage: any Storage, serverName: ServerName, hasher: PasswordHasher, lifetimes: TokenLifetimes = TokenLifetimes()) async throws {
        self.storage = storage
        self.serverName = serverName
        self.hasher = hasher
        self.lifetimes = lifetimes
        self.dummyHash = try await hasher.hash(RandomString.alphanumeric(24))
    }

    public struct LoginResult: Sendable {
        public let userID: String
        public let deviceID: String
        public let accessToken: String
        public var refreshToken: String?
        /// The access token's lifetime, when it has one.
        public var expiresInMs: Int64?

        var json: JSON {
            var object: JSONObject = ["user_id": .string(userID), "access_token": .string(accessToken), "device_id": .string(deviceID)]
            if let refreshToken { object["refresh_token"] = .string(refreshToken) }
            if let expiresInMs { object["expires_in_ms"] = .int(expiresInMs) }
            return .object(object)
        }
    }

    /// How a new session's tokens are made: with a refresh token when the client can refresh
    /// (`refresh_token: true`), and an access token that then expires sooner.
    public struct SessionOptions: Sendable {
        public var refreshable = false
        /// An end chosen by the caller (an admin's `valid_until_ms`), instead of the configured one.
        public var accessExpiresAt: Int64?

        public init(refreshable: Bool = false, accessExpiresAt: Int64? = nil) {
            self.refreshable = refreshable
            self.accessExpiresAt = accessExpiresAt
        }
    }

    /// A new access and refresh token for a refresh (legacy or OAuth), and their hashes with
    /// their ends as the storage keeps them.
    func refreshablePair(now: Int64) -> (access: String, refresh: String, stored: RefreshedTokens) {
        let access = Authenticator.generateToken()
        let refresh = Authenticator.generateToken()
        return (
            access, refresh,
            RefreshedTokens(
                accessTokenHash: Authenticator.hash(token: access), accessExpiresAt: now + lifetimes.refreshableAccessMs,
                refreshTokenHash: Authenticator.hash(token: refresh), refreshExpiresAt: lifetimes.refreshMs.map { now + $0 })
        )
    }

    /// Tokens for a new session, and what the storage keeps of them (their hashes).
    private func issue(_ device: Device, options: SessionOptions, ip: String, now: Int64) -> (LoginResult, NewSession) {
        let token = Authenticator.generateToken()
        let refresh = options.refreshable ? Authenticator.generateToken() : nil
        let lifetime = options.refreshable ? lifetimes.refreshableAccessMs : lifetimes.nonRefreshableAccessMs
        let expiresAt = options.accessExpiresAt ?? lifetime.map { now + $0 }
        var result = LoginResult(userID: device.userID, deviceID: device.deviceID, accessToken: token)
        result.refreshToken = refresh
        result.expiresInMs = expiresAt.map { max(0, $0 - now) }
        let session = NewSession(
            device: device, tokenHash: Authenticator.hash(token: token), createdAt: now, ip: ip, accessExpiresAt: expiresAt,
            refreshTokenHash: refresh.map(Authenticator.hash(token:)), refreshExpiresAt: refresh.flatMap { _ in lifetimes.refreshMs.map { now + $0 } })
        return (result, session)
    }

    /// Validates a desired localpart for a new account (spec appendix grammar, 255-byte limit,
    /// numeric localparts reserved for generated accounts) and returns the user ID.
    /// Capitals are lowercased first, as Synapse does, rather than refused.
    public func validatedNewUserID(_ requested: String) throws(MatrixError) -> UserID {
        let username = requested.lowercased()
        guard UserID.isCompliantLocalpart(username) else {
            throw MatrixError.invalidUsername("User ID may only contain the characters a-z, 0-9, '.', '_', '=', '-', '/' and '+'")
        }
        guard !username.allSatisfy(\.isNumber) else {
            throw MatrixError.invalidUsername("Numeric user IDs are reserved for generated accounts")
        }
        let userID = UserID(localpart: username, server: serverName)
        guard userID.description.utf8.count <= 255 else {
            throw MatrixError.invalidUsername("User ID is longer than 255 bytes")
        }
        return userID
    }

    public func ensureAvailable(_ userID: UserID) async throws {
        if try await !storage.accounts(matchingLowercasedUserID: userID.description).isEmpty {
            throw MatrixError.userInUse()
        }
    }

    func generatedUserID() async throws -> UserID {
        while true {
            let candidate = UserID(localpart: String(try await storage.nextGeneratedUserNumber()), server: serverName)
            if try await storage.account(userID: candidate.description) == nil { return candidate }
        }
    }

    /// A password hash made now, to be stored later (a registration's UIA session keeps the
    /// hash, never the password).
    func hashPassword(_ password: String) async throws -> String {
        try checkPasswordShape(password)
        return try await hasher.hash(password)
    }

    func checkPasswordShape(_ password: String) throws(MatrixError) {
        guard password.utf8.count <= PasswordHasher.maxPasswordBytes else {
            throw MatrixError(400, "M_WEAK_PASSWORD", "Password is longer than \(PasswordHasher.maxPasswordBytes) bytes")
        }
    }

    /// Creates the account and, unless `login` is nil, its first device and token, in one
    /// transaction: no half-made account survives a failure or a crash.
    public func register(
        userID: UserID, password: String?, passwordHash: String? = nil, isAdmin: Bool = false, isGuest: Bool = false,
        displayName: String? = nil, login: (deviceID: String?, displayName: String?, ip: String)?, options: SessionOptions = SessionOptions()
    ) async throws -> LoginResult? {
        if let password { try checkPasswordShape(password) }
        let hash: String? = if let password { try await hasher.hash(password) } else { passwordHash }
        let now = nowMillis()
        var profile: JSONObject = [:]
        profile["displayname"] = .string(displayName ?? userID.localpart)
        let account = Account(
            userID: userID.description, passwordHash: hash, isAdmin: isAdmin, isGuest: isGuest, createdAt: now,
            profile: profile)
        var result: LoginResult?
        var session: NewSession?
        if let login {
            let device = Device(userID: userID.description, deviceID: login.deviceID ?? RandomString.deviceID(), displayName: login.displayName)
            (result, session) = issue(device, options: options, ip: login.ip, now: now)
        }
        do {
            try await storage.createAccount(account, session: session)
        } catch StorageError.conflict {
            throw MatrixError.userInUse()
        }
        return result
    }

    /// Opens a new session for an existing account on the given (or a new) device.
    func openSession(
        userID: String, deviceID: String?, displayName: String?, ip: String, options: SessionOptions = SessionOptions()
    ) async throws -> LoginResult {
        let device = Device(userID: userID, deviceID: deviceID ?? RandomString.deviceID(), displayName: displayName)
        let (result, session) = issue(device, options: options, ip: ip, now: nowMillis())
        try await storage.createSession(session)
        return result
    }

    /// Resolves a login identifier (`alice` or `@alice:server`) to a local account: the exact
    /// ID first, then a case-insensitive match when that is unambiguous.
    func resolveLocalAccount(_ user: String) async throws -> Account? {
        let fullID: String
        if user.hasPrefix("@") {
            guard let parsed = UserID(user), parsed.server == serverName else { return nil }
            fullID = parsed.description
        } else {
            fullID = "@\(user):\(serverName)"
        }
        if let exact = try await storage.account(userID: fullID) { return exact }
        let candidates = try await storage.accounts(matchingLowercasedUserID: fullID)
        return candidates.count == 1 ? candidates[0] : nil
    }

    /// Checks a password in constant effort whether or not the account exists, so timing does
    /// not reveal which user names are registered.
    func verifyPassword(_ password: String, account: Account?) async throws -> Bool {
        guard password.utf8.count <= PasswordHasher.maxPasswordBytes else { return false }
        guard let hash = account?.passwordHash else {
            _ = try await hasher.verify(password, hash: dummyHash)
            return false
        }
        return try await hasher.verify(password, hash: hash)
    }
}
