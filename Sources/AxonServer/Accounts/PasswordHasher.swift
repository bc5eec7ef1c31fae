import HummingbirdBcrypt
import NIOPosix

/// bcrypt is deliberately slow (hundreds of ms at cost 12), so it runs on NIO's blocking
/// thread pool, never on an event loop or the cooperative pool that serves requests.
struct PasswordHasher: Sendable {
    let cost: Int
    /// An upper bound that keeps hashing requests cheap to refuse (bcrypt itself reads 72 bytes).
    static let maxPasswordBytes = 512

    func hash(_ password: String) async throws -> String {
        let cost = UInt8(self.cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
