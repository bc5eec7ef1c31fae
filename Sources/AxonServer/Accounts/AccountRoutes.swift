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
        routes.client(.post, "/account/password") { request in
            let body = try request.jsonObject()
            let newPassword = try body.requiredString("new_password")
            try accounts.checkPasswordShape(newPassword)
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
        routes.client(.get, "/account/3pid") { _ in
            .ok(["threepids": []])
        }
        for medium in ["email", "msisdn"] {
            routes.client(.post, "/account/password/\(medium)/requestToken", auth: .none) { _ in
                throw MatrixError(400, "M_THREEPID_NOT_FOUND", "No account is bound to this third-party identifier")
            }
        }
    }

    /// Re-authentication with the account's password, for operations that could lock a user out.
    func passwordRequirement(_ operation: String, _ request: MatrixRequest) -> UserInteractiveAuth.Requirement {
        .init(operation: operation, flows: [["m.login.password"]], user: request.user.userID)
    }
}
