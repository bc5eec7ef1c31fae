import AxonStorage
import MatrixModel

extension ServerContext {
    func registerAccountRoutes(on routes: RouteTable) {
        routes.client(.get, "/account/whoami", auth: .required(allowGuests: true)) { request in
            .ok([
                "user_id": .string(request.user.userID), "device_id": .string(request.user.deviceID),
                "is_guest": .bool(request.user.isGuest),
            ])
        }
        routes.client(.post, "/account/password", auth: .optional, rateLimit: .login) { request in
            let body = try request.jsonObject()
            let newPassword = try body.requiredString("new_password")
            try accounts.checkPasswordShape(newPassword)
            guard let owner = request.owner else { return try await resetPassword(body, newPassword: newPassword) }
            if owner.isGuest { throw MatrixError.guestAccessForbidden() }
            try await uia.require(passwordRequirement("account/password", request), body: body)
            try await storage.setPasswordHash(userID: request.user.userID, hash: try await accounts.hasher.hash(newPassword))
            if try body.optionalBool("logout_devices") ?? true {
                try await announceDeviceListChange(
                    request.user.userID,
                    at: try await storage.deleteAllDevices(userID: request.user.userID, keepingDeviceID: request.user.deviceID))
            }
            return .empty
        }
        routes.client(.post, "/account/deactivate") { request in
            let body = try request.jsonObject()
            let erase = try body.optionalBool("erase") ?? false
            try await uia.require(passwordRequirement("account/deactivate", request), body: body)
            try await deactivate(request.user.userID, erase: erase)
            return .ok(["id_server_unbind_result": "no-support"])
        }
    }

    /// A forgotten password: the user confirms an email address bound to the account
    /// (`m.login.email.identity` without an access token), and every device is signed out
    /// unless `logout_devices` is false.
    private func resetPassword(_ body: JSON, newPassword: String) async throws -> MatrixResponse {
        guard config.email != nil else { throw MatrixError.missingToken() }
        let session = try await uia.require(
            .init(operation: "account/password/reset", flows: [["m.login.email.identity"]], threePIDPurpose: ValidationPurpose.password.rawValue),
            body: body)
        guard let threePID = session.params?[UserInteractiveAuth.threePIDKey], let address = threePID["address"]?.stringValue,
            let userID = try await storage.threePIDUser(medium: threePID["medium"]?.stringValue ?? "email", address: address)
        else {
            throw MatrixError(401, "M_THREEPID_AUTH_FAILED", "No account has this email address any more")
        }
        try await storage.setPasswordHash(userID: userID, hash: try await accounts.hasher.hash(newPassword))
        if try body.optionalBool("logout_devices") ?? true {
            try await announceDeviceListChange(userID, at: try await storage.deleteAllDevices(userID: userID, keepingDeviceID: nil))
        }
        logger.info("password reset by email", metadata: ["user_id": "\(userID)"])
        return .empty
    }

    /// Re-authentication with the account's password, for operations that could lock a user out.
    func passwordRequirement(_ operation: String, _ request: MatrixRequest) -> UserInteractiveAuth.Requirement {
        .init(operation: operation, flows: [["m.login.password"]], user: request.user.userID)
    }
}
