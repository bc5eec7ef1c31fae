import AxonStorage
import MatrixModel

extension ServerContext {
    func registerLoginRoutes(on routes: RouteTable) {
        routes.client(.get, "/login", auth: .none) { _ in
            .ok(["flows": [["type": "m.login.password"], ["type": "m.login.application_service"]]])
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
        guard type == "m.login.password" || type == "m.login.application_service" else {
            throw MatrixError.unknown("Unsupported login type \(type)")
        }
        let user: String
        if let identifier = try body.optionalObject("identifier") {
            let identifierType = try identifier.requiredString("type")
            switch identifierType {
            case "m.id.user":
                user = try identifier.requiredString("user")
            case "m.id.thirdparty", "m.id.phone":
                // No third-party identifier is ever bound to an account here.
                throw MatrixError.forbidden("Invalid username or password")
            default:
                throw MatrixError.unknown("Unknown identifier type \(identifierType)")
            }
        } else if let legacyUser = try body.optionalString("user") {
            user = legacyUser
        } else {
            throw MatrixError.missingParam("Missing 'identifier'")
        }
        if type == "m.login.application_service" { return try await appServiceLogin(request, user: user, body: body) }
        let password = try body.requiredString("password")
        let account = try await accounts.resolveLocalAccount(user)
        // Deactivation erases the password hash, so deactivated accounts fail here too.
        guard try await accounts.verifyPassword(password, account: account), let account else {
            throw MatrixError.forbidden("Invalid username or password")
        }
        // A locked account gets no new token until it is unlocked (spec "Account locking").
        if try await storage.accountRestrictions(userID: account.userID)?.locked == true {
            throw AccountRestrictions.lockedError
        }
        let result = try await accounts.openSession(
            userID: account.userID, deviceID: try body.optionalString("device_id"),
            displayName: try body.optionalString("initial_device_display_name"), ip: request.remoteIP)
        // A new session is a new (or renewed) device: users sharing a room re-query its keys.
        try await announceDeviceListChange(account.userID, at: try await storage.markDeviceListChanged(userID: account.userID))
        return .ok(result.json)
    }
}
