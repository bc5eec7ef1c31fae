import AxonStorage
import MatrixModel

extension ServerContext {
    func registerRegistrationRoutes(on routes: RouteTable) {
        routes.client(.post, "/register", auth: .none, rateLimit: .registration) { request in
            try await register(request)
        }
        routes.client(.get, "/register/available", auth: .none, rateLimit: .registration) { request in
            guard let username = request.query("username") else { throw MatrixError.missingParam("Missing 'username'") }
            let userID = try accounts.validatedNewUserID(username)
            try await accounts.ensureAvailable(userID)
            return .ok(["available": true])
        }
        routes.add(
            .get, "/_matrix/client/v1/register/m.login.registration_token/validity", auth: .none, rateLimit: .registration
        ) { request in
            guard config.registrationOpen else { throw MatrixError.forbidden("Registration has been disabled") }
            guard let token = request.query("token") else { throw MatrixError.missingParam("Missing 'token'") }
            return .ok(["valid": .bool(config.registrationTokens.contains(token))])
        }
        // Axon binds no third-party identifiers, so it refuses to send validation tokens for them.
        for medium in ["email", "msisdn"] {
            routes.client(.post, "/register/\(medium)/requestToken", auth: .none) { _ in
                throw MatrixError(403, "M_THREEPID_DENIED", "Third-party identifiers are not supported on this server")
            }
        }
    }

    var registrationFlows: [[String]] {
        config.registrationTokens.isEmpty ? [["m.login.dummy"]] : [["m.login.registration_token"]]
    }

    /// The guest whose access token came with the registration, if any.
    private func upgradingGuest(_ request: MatrixRequest, body: JSON) async throws -> TokenOwner? {
        guard let token = try body.optionalString("guest_access_token") ?? request.accessToken,
            let owner = try await storage.tokenOwner(tokenHash: Authenticator.hash(token: token)), owner.isGuest
        else { return nil }
        return owner
    }

    private func register(_ request: MatrixRequest) async throws -> MatrixResponse {
        let submitted = try request.jsonObject()
        // The first request's parameters count for the one that completes its session.
        let remembered = try await uia.rememberedParams(submitted, operation: "register") ?? [:]
        var merged = remembered
        for (key, value) in submitted.objectValue ?? [:] { merged[key] = value }
        merged["password_hash"] = nil
        let body = JSON.object(merged)
        let kind = request.query("kind") ?? "user"
        let inhibitLogin = try body.optionalBool("inhibit_login") ?? false
        let deviceID = try body.optionalString("device_id")
        let deviceName = try body.optionalString("initial_device_display_name")
        switch kind {
        case "guest":
            guard config.allowGuestAccess else { throw MatrixError.guestAccessForbidden() }
            let userID = try await accounts.generatedUserID()
            let result = try await accounts.register(
                userID: userID, password: nil, isGuest: true, login: (deviceID, deviceName, request.remoteIP))
            return .ok(result!.json)
        case "user":
            break
        default:
            throw MatrixError.invalidParam("Unknown registration kind '\(kind)'")
        }
        // A guest registering with its own access token (header or `guest_access_token`)
        // becomes a full account under the same, generated user ID.
        let guest = try await upgradingGuest(request, body: body)
        guard config.registrationOpen || guest != nil else { throw MatrixError.forbidden("Registration has been disabled") }
        // Check the user name before authentication so clients learn of a taken name at once.
        let desiredUserID: UserID? = guest != nil ? nil : try await body.optionalString("username").asyncMap { username in
            let userID = try accounts.validatedNewUserID(username)
            try await accounts.ensureAvailable(userID)
            return userID
        }
        let password = try body.optionalString("password")
        if let password { try accounts.checkPasswordShape(password) }
        var remember = merged
        remember["auth"] = nil
        remember["password"] = nil
        // Only a request without `auth` is sure to end in a challenge: hash its password then,
        // not on every attempt.
        if submitted["auth"] == nil, let password { remember["password_hash"] = .string(try await accounts.hashPassword(password)) }
        try await uia.require(.init(operation: "register", flows: registrationFlows), body: body, remember: .object(remember))
        let passwordHash = remembered["password_hash"]?.stringValue
        guard password != nil || passwordHash != nil else { throw MatrixError.missingParam("Missing 'password'") }
        if let guest, let userID = UserID(guest.userID) {
            let hash = try await password.asyncMap { try await accounts.hashPassword($0) } ?? passwordHash ?? ""
            guard try await storage.upgradeGuest(userID: guest.userID, passwordHash: hash) else {
                throw MatrixError.forbidden("This guest account cannot be upgraded")
            }
            logger.info("upgraded guest to a full account", metadata: ["user_id": "\(userID)"])
            guard !inhibitLogin else { return .ok(["user_id": .string(guest.userID)]) }
            return .ok(try await accounts.openSession(userID: guest.userID, deviceID: deviceID, displayName: deviceName, ip: request.remoteIP).json)
        }
        let userID: UserID
        if let desiredUserID {
            userID = desiredUserID
        } else {
            userID = try await accounts.generatedUserID()
        }
        let result = try await accounts.register(
            userID: userID, password: password, passwordHash: password == nil ? passwordHash : nil,
            login: inhibitLogin ? nil : (deviceID, deviceName, request.remoteIP))
        logger.info("registered user", metadata: ["user_id": "\(userID)"])
        return .ok(result?.json ?? ["user_id": .string(userID.description)])
    }
}
