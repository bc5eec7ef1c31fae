import AxonStorage
import MatrixModel

/// Synapse's registration tokens API: tokens admins create, limit and revoke, which the
/// spec's `m.login.registration_token` stage accepts (with `registration_requires_token`, or
/// beside the configured `registration_tokens`).
extension ServerContext {
    static let tokenCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")

    func registerAdminRegistrationTokenRoutes(on routes: RouteTable) {
        let base = "/_synapse/admin/v1/registration_tokens"
        routes.add(.get, base) { request in
            try requireAdmin(request)
            let valid = try request.booleanQuery("valid")
            let now = nowMillis()
            let tokens = try await storage.registrationTokens().filter { valid == nil || $0.isValid(at: now) == valid }
            return .ok(["registration_tokens": .array(tokens.map { .object(Self.tokenJSON($0)) })])
        }
        routes.add(.post, base + "/new") { request in
            try requireAdmin(request)
            let body = try request.jsonObject()
            let token: String
            if let given = try body.optionalString("token") {
                guard !given.isEmpty, given.count <= 64, given.allSatisfy(Self.tokenCharacters.contains) else {
                    throw MatrixError.invalidParam("'token' must be 1 to 64 of the characters A-Z, a-z, 0-9, '.', '_', '~' and '-'")
                }
                token = given
            } else {
                let length = try body.optionalInt("length") ?? 16
                guard (1...64).contains(length) else {
                    throw MatrixError.invalidParam("'length' must be an integer from 1 to 64")
                }
                token = RandomString.alphanumeric(Int(length))
            }
            let limits = try Self.tokenLimits(body, current: nil)
            let created = RegistrationToken(token: token, usesAllowed: limits.uses, expiryTime: limits.expiry)
            guard try await storage.createRegistrationToken(created) else { throw MatrixError.invalidParam("Token already exists") }
            return .ok(.object(Self.tokenJSON(created)))
        }
        routes.add(.get, base + "/{token}") { request in
            try requireAdmin(request)
            return .ok(.object(Self.tokenJSON(try await existingToken(request))))
        }
        routes.add(.put, base + "/{token}") { request in
            try requireAdmin(request)
            var token = try await existingToken(request)
            (token.usesAllowed, token.expiryTime) = try Self.tokenLimits(try request.jsonObject(), current: token)
            guard try await storage.updateRegistrationToken(token) else { throw MatrixError.notFound("No such registration token") }
            return .ok(.object(Self.tokenJSON(token)))
        }
        routes.add(.delete, base + "/{token}") { request in
            try requireAdmin(request)
            guard try await storage.deleteRegistrationToken(request.parameter("token")) else {
                throw MatrixError.notFound("No such registration token")
            }
            return .ok([:])
        }
    }

    private func existingToken(_ request: MatrixRequest) async throws -> RegistrationToken {
        guard let token = try await storage.registrationToken(request.parameter("token")) else {
            throw MatrixError.notFound("No such registration token")
        }
        return token
    }

    /// `uses_allowed` and `expiry_time` from a body: absent keeps the current value, null
    /// removes the limit.
    private static func tokenLimits(_ body: JSON, current: RegistrationToken?) throws -> (uses: Int64?, expiry: Int64?) {
        func limit(_ key: String, _ existing: Int64?) throws -> Int64? {
            switch body[key] {
            case nil: return existing
            case .null?: return nil
            case .int(let value)? where value >= 0: return value
            default: throw MatrixError.invalidParam("'\(key)' must be a non-negative integer or null")
            }
        }
        let uses = try limit("uses_allowed", current?.usesAllowed)
        let expiry = try limit("expiry_time", current?.expiryTime)
        if let expiry, expiry < nowMillis(), body["expiry_time"] != nil { throw MatrixError.invalidParam("'expiry_time' is in the past") }
        return (uses, expiry)
    }

    private static func tokenJSON(_ token: RegistrationToken) -> JSONObject {
        [
            "token": .string(token.token), "uses_allowed": token.usesAllowed.map(JSON.int) ?? .null, "pending": .int(token.pending),
            "completed": .int(token.completed), "expiry_time": token.expiryTime.map(JSON.int) ?? .null,
        ]
    }
}
