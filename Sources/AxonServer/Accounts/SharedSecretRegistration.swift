import AxonStorage
import Crypto
import MatrixModel

/// Synapse's admin registration API (`/_synapse/admin/v1/register`), which test suites and
/// provisioning tools use: a single-use nonce, then an HMAC-SHA1 over
/// `nonce\0username\0password\0admin|notadmin[\0user_type]` keyed by the shared secret.
extension ServerContext {
    static let nonceLifetimeMs: Int64 = 60 * 1000
    static let nonceOperation = "synapse.admin.register.nonce"

    func registerSharedSecretRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/register", auth: .none, rateLimit: .registration) { _ in
            guard config.registrationSharedSecret != nil else { throw sharedSecretDisabled }
            let nonce = RandomString.alphanumeric(32)
            // Nonces live beside UIA sessions so that any node can check one another node issued.
            try await storage.saveUIASession(
                UIASession(sessionID: nonce, operation: Self.nonceOperation, userID: nil, completedStages: [], createdAt: nowMillis()))
            return .ok(["nonce": .string(nonce)])
        }
        routes.add(.post, "/_synapse/admin/v1/register", auth: .none, rateLimit: .registration) { request in
            try await registerWithSharedSecret(request)
        }
    }

    private var sharedSecretDisabled: MatrixError {
        MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled")
    }

    private func registerWithSharedSecret(_ request: MatrixRequest) async throws -> MatrixResponse {
        guard let secret = config.registrationSharedSecret else { throw sharedSecretDisabled }
        let body = try request.jsonObject()
        let nonce = try body.requiredString("nonce")
        let username = try body.requiredString("username")
        let password = try body.requiredString("password")
        let mac = try body.requiredString("mac")
        let admin = try body.optionalBool("admin") ?? false
        let userType = try body.optionalString("user_type")
        guard let stored = try await storage.uiaSession(id: nonce), stored.operation == Self.nonceOperation else {
            throw MatrixError.unknown("Unrecognised nonce")
        }
        try await storage.deleteUIASession(id: nonce)
        guard nowMillis() - stored.createdAt < Self.nonceLifetimeMs else { throw MatrixError.unknown("Nonce has expired") }
        var message = Array(nonce.utf8) + [0] + Array(username.utf8) + [0] + Array(password.utf8) + [0]
        message += Array((admin ? "admin" : "notadmin").utf8)
        if let userType { message += [0] + Array(userType.utf8) }
        let expected = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        let expectedHex = Hex.encode(expected)
        guard constantTimeEqual(Array(expectedHex.utf8), Array(mac.lowercased().utf8)) else {
            throw MatrixError.forbidden("HMAC incorrect")
        }
        let userID = try accounts.validatedNewUserID(username.lowercased())
        try await accounts.ensureAvailable(userID)
        let result = try await accounts.register(
            userID: userID, password: password, isAdmin: admin, displayName: try body.optionalString("displayname"),
            login: (nil, nil, request.remoteIP))!
        logger.info("registered user through shared secret", metadata: ["user_id": "\(userID)", "admin": "\(admin)"])
        var json = result.json
        json["home_server"] = .string(serverName.value)
        return .ok(json)
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
