import AxonStorage
import MatrixModel

/// Refresh tokens (`POST /refresh`, spec v1.3) and login tokens (`POST /login/get_token`, v1.7).
extension ServerContext {
    func registerSessionTokenRoutes(on routes: RouteTable) {
        routes.client(.post, "/refresh", auth: .none, rateLimit: .refresh) { request in
            try await refresh(try request.jsonObject().requiredString("refresh_token"))
        }
        routes.add(.post, "/_matrix/client/v1/login/get_token", auth: .required(), rateLimit: .loginToken) { request in
            guard config.loginViaExistingSession else { throw MatrixError.unrecognized("Login tokens are not enabled on this server") }
            guard try await canConfirmIdentity(request.user.userID) else {
                throw MatrixError(400, "M_FORBIDDEN", "This account has no password or identity provider to confirm a new sign-in with")
            }
            // The spec asks for a fresh confirmation every time: the session is never kept.
            try await uia.require(passwordRequirement("login/get_token", request), body: try request.jsonObject())
            let token = Authenticator.generateToken()
            let now = nowMillis()
            let lifetime = accounts.lifetimes.loginTokenMs
            try await storage.createLoginToken(
                tokenHash: Authenticator.hash(token: token), userID: request.user.userID, createdAt: now, expiresAt: now + lifetime)
            return .ok(["login_token": .string(token), "expires_in_ms": .int(lifetime)])
        }
    }

    /// Signs a device out: its tokens and keys go, and users sharing a room hear of it.
    func endSession(userID: String, deviceID: String) async throws {
        try await announceDeviceListChange(userID, at: try await storage.deleteDevices(userID: userID, deviceIDs: [deviceID]))
    }

    /// Whether the user can pass user-interactive auth: with a password, or through a provider.
    func canConfirmIdentity(_ userID: String) async throws -> Bool {
        if try await storage.account(userID: userID)?.passwordHash != nil { return true }
        guard ssoEnabled else { return false }
        return try await !storage.externalIDs(userID: userID).isEmpty
    }

    private func refresh(_ presented: String) async throws -> MatrixResponse {
        let now = nowMillis()
        let (accessToken, refreshToken, replacement) = accounts.refreshablePair(now: now)
        switch try await storage.refreshSession(
            presentedHash: Authenticator.hash(token: presented), clientID: nil, replacement: replacement, now: now) {
        case .refreshed(let userID, _, _):
            if try await storage.accountRestrictions(userID: userID)?.locked == true { throw AccountRestrictions.lockedError }
            return .ok([
                "access_token": .string(accessToken), "refresh_token": .string(refreshToken),
                "expires_in_ms": .int(accounts.lifetimes.refreshableAccessMs),
            ])
        case .unknown:
            throw MatrixError.unknownToken("Unknown refresh token")
        case .expired:
            throw MatrixError(401, "M_UNKNOWN_TOKEN", "Refresh token has expired", extra: ["soft_logout": true])
        case .reused(let userID, let deviceID):
            // Spec "Refresh token grant": an invalidated refresh token coming back means the
            // session may be compromised, so it ends, device and all.
            logger.warning("refresh token reused: session revoked", metadata: ["user_id": "\(userID)", "device_id": "\(deviceID)"])
            try await endSession(userID: userID, deviceID: deviceID)
            throw MatrixError.unknownToken("This refresh token was already used: the session has been ended")
        }
    }
}
