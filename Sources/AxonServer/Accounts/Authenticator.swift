import AxonStorage
import Crypto
import MatrixModel
import Synchronization

/// Access tokens: 256 random bits, handed to the client once and stored only as a SHA-256
/// hash, so a copy of the database does not let anyone log in.
final class Authenticator: Sendable {
    private let storage: any Storage
    /// When each device's last-seen was last written, so that busy clients cost one write per
    /// interval rather than one per request.
    private let lastSeenWrites = Mutex<[String: Int64]>([:])
    private static let lastSeenInterval: Int64 = 5 * 60 * 1000

    init(storage: any Storage) {
        self.storage = storage
    }

    static func generateToken() -> String {
        "axon_" + UnpaddedBase64.encode(RandomString.bytes(32), urlSafe: true)
    }

    static func hash(token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// User agents are kept for `/admin/whois`, cut to a length no client needs.
    static let maxUserAgentBytes = 512

    func authenticate(token: String, ip: String, userAgent: String? = nil) async throws -> TokenOwner? {
        guard let owner = try await storage.tokenOwner(tokenHash: Self.hash(token: token)) else { return nil }
        let now = nowMillis()
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
}
