import AxonStorage
import Crypto
import MatrixModel
import Synchronization

/// Access tokens: 256 random bits, handed to the client once and stored only as a SHA-256
/// hash, so a copy of the database does not let anyone log in.
final class Authenticator: Sendable {
    private let storage: any Storage
    private let appServices: AppServiceRegistry?
    /// When each device's last-seen was last written, so that busy clients cost one write per
    /// interval rather than one per request.
    private let lastSeenWrites = Mutex<[String: Int64]>([:])
    private static let lastSeenInterval: Int64 = 5 * 60 * 1000

    init(storage: any Storage, appServices: AppServiceRegistry? = nil) {
        self.storage = storage
        self.appServices = appServices
    }

    static func generateToken() -> String {
        "axon_" + UnpaddedBase64.encode(RandomString.bytes(32), urlSafe: true)
    }

    static func hash(token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    /// An expired token's device is kept: the client refreshes, or logs in again on it.
    static let expiredError = MatrixError(401, "M_UNKNOWN_TOKEN", "Access token has expired", extra: ["soft_logout": true])

    /// User agents are kept for `/admin/whois`, cut to a length no client needs.
    static let maxUserAgentBytes = 512

    func authenticate(
        token: String, ip: String, userAgent: String? = nil, masquerade: (userID: String?, deviceID: String?) = (nil, nil)
    ) async throws -> TokenOwner? {
        if let service = appServices?.service(asToken: token) {
            return try await appServiceOwner(service, masquerade: masquerade)
        }
        guard let owner = try await storage.tokenOwner(tokenHash: Self.hash(token: token)) else { return nil }
        let now = nowMillis()
        if let expiresAt = owner.expiresAt, expiresAt <= now { throw Self.expiredError }
        if let refreshHash = owner.unconfirmedRefreshTokenHash {
            try await storage.confirmRefresh(refreshTokenHash: refreshHash, now: now)
        }
        let key = "\(owner.userID)\u{0}\(owner.deviceID)"
        let due = lastSeenWrites.withLock { writes in
            if let last = writes[key], now - last < Self.lastSeenInterval { return false }
            if writes.count > 100_000 { writes.removeAll() }
            writes[key] = now
            return true
        }
        if due {
            let agent = userAgent.map { String(decoding: $0.utf8.prefix(Self.maxUserAgentBytes), as: UTF8.self) }
            try await storage.recordDeviceSeen(userID: owner.userID, deviceID: owner.deviceID, ip: ip, userAgent: agent, at: now)
        }
        return owner
    }

    /// An application service acts as its sender, or (`user_id`) as a user it claims who
    /// exists, and (`device_id`, MSC3202/MSC4190) as one of that user's devices.
    private func appServiceOwner(_ service: AppServiceRegistration, masquerade: (userID: String?, deviceID: String?)) async throws -> TokenOwner {
        guard let registry = appServices else { throw MatrixError.unknownToken() }
        let userID = masquerade.userID ?? service.sender(on: registry.serverName)
        guard UserID(userID)?.server == registry.serverName, service.claims(user: userID, on: registry.serverName) else {
            throw MatrixError.forbidden("Application service cannot masquerade as \(userID)")
        }
        guard let account = try await storage.account(userID: userID), !account.isDeactivated else {
            throw MatrixError.forbidden("Application service has not registered \(userID)")
        }
        var deviceID = ""
        if let wanted = masquerade.deviceID {
            guard service.msc3202 || service.msc4190 else { throw MatrixError.forbidden("This application service may not act as a device") }
            guard try await storage.device(userID: userID, deviceID: wanted) != nil else {
                throw MatrixError.forbidden("Application service has no device \(wanted) for \(userID)")
            }
            deviceID = wanted
        }
        var owner = TokenOwner(
            userID: userID, deviceID: deviceID, isGuest: false, isAdmin: account.isAdmin, isSuspended: account.isSuspended,
            isLocked: account.isLocked)
        owner.isShadowBanned = account.isShadowBanned
        owner.appServiceID = service.id
        owner.exemptFromRateLimits = !service.rateLimited
        return owner
    }
}
