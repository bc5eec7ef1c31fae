import AxonStorage
import MatrixModel

extension ServerContext {
    func registerLoginRoutes(on routes: RouteTable) {
        routes.client(.get, "/login", auth: .none) { _ in
            var flows: [JSON] = config.passwordLoginEnabled ? [["type": "m.login.password"]] : []
            flows.append(["type": "m.login.application_service"])
            if ssoEnabled { flows.append(["type": "m.login.sso", "identity_providers": identityProviders]) }
            flows.append(config.loginViaExistingSession ? ["type": "m.login.token", "get_login_token": true] : ["type": "m.login.token"])
            return .ok(["flows": .array(flows)])
        }
        routes.client(.post, "/login", auth: .none, rateLimit: .login) { request in
            try await login(request)
        }
        routes.client(.post, "/logout", auth: .required(allowGuests: true)) { request in
            try await announceDeviceListChange(
                request.user.userID, at: try await storage.deleteDevices(userID: request.user.userID, deviceIDs: [request.user.deviceID]))
            return .empty
        }
        routes.client(.post, "/logout/all", auth: .required(allowGuests: true)) { request in
            try await announceDeviceListChange(
                request.user.userID, at: try await storage.deleteAllDevices(userID: request.user.userID, keepingDeviceID: nil))
            return .empty
        }
    }

    private func login(_ request: MatrixRequest) async throws -> MatrixResponse {
        let body = try request.jsonObject()
        let type = try body.requiredString("type")
        let options = AccountService.SessionOptions(refreshable: try body.optionalBool("refresh_token") ?? false)
        let account: Account
        switch type {
        case "m.login.password", "m.login.application_service":
            let user = try await loginUser(body)
            if type == "m.login.application_service" { return try await appServiceLogin(request, user: user, body: body, options: options) }
            guard config.passwordLoginEnabled else {
                throw MatrixError.unknown("Password login is turned off here: sign in through the OAuth 2.0 API")
            }
            let password = try body.requiredString("password")
            let found = try await accounts.resolveLocalAccount(user)
            // Deactivation erases the password hash, so deactivated accounts fail here too.
            guard try await accounts.verifyPassword(password, account: found), let found else {
                throw MatrixError.forbidden("Invalid username or password")
            }
            account = found
        case "m.login.token":
            account = try await loginTokenAccount(try body.requiredString("token"))
        default:
            throw MatrixError.unknown("Unsupported login type \(type)")
        }
        // A locked account gets no new token until it is unlocked (spec "Account locking").
        if try await storage.accountRestrictions(userID: account.userID)?.locked == true {
            throw AccountRestrictions.lockedError
        }
        let result = try await accounts.openSession(
            userID: account.userID, deviceID: try body.optionalString("device_id"),
            displayName: try body.optionalString("initial_device_display_name"), ip: request.remoteIP, options: options)
        // A new session is a new (or renewed) device: users sharing a room re-query its keys.
        try await announceDeviceListChange(account.userID, at: try await storage.markDeviceListChanged(userID: account.userID))
        return .ok(result.json)
    }

    /// The user a password or application-service login names.
    private func loginUser(_ body: JSON) async throws -> String {
        if let identifier = try body.optionalObject("identifier") {
            let identifierType = try identifier.requiredString("type")
            switch identifierType {
            case "m.id.user":
                return try identifier.requiredString("user")
            case "m.id.thirdparty":
                // An unknown address fails like a wrong password, so it reveals nothing.
                guard try identifier.requiredString("medium") == "email",
                    let address = try? Self.canonicalEmail(try identifier.requiredString("address")),
                    let userID = try await storage.threePIDUser(medium: "email", address: address)
                else { return "" }
                return userID
            case "m.id.phone":
                // No phone number is ever bound to an account here.
                throw MatrixError.forbidden("Invalid username or password")
            default:
                throw MatrixError.unknown("Unknown identifier type \(identifierType)")
            }
        }
        if let legacyUser = try body.optionalString("user") { return legacyUser }
        throw MatrixError.missingParam("Missing 'identifier'")
    }

    /// `m.login.token`: a login token is spent by its first use, whether or not that succeeds.
    private func loginTokenAccount(_ token: String) async throws -> Account {
        guard let userID = try await storage.consumeLoginToken(tokenHash: Authenticator.hash(token: token), now: nowMillis()),
            let account = try await storage.account(userID: userID), !account.isDeactivated
        else {
            throw MatrixError.forbidden("Invalid or expired login token")
        }
        return account
    }
}
