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
            try appServices.checkUserID(userID.description, caller: nil)
            try await accounts.ensureAvailable(userID)
            return .ok(["available": true])
        }
        routes.add(
            .get, "/_matrix/client/v1/register/m.login.registration_token/validity", auth: .none, rateLimit: .registration
        ) { request in
            guard config.registrationOpen else { throw MatrixError.forbidden("Registration has been disabled") }
            guard let token = request.query("token") else { throw MatrixError.missingParam("Missing 'token'") }
            return .ok(["valid": .bool(try await uia.isValidRegistrationToken(token))])
        }
    }

    /// With email configured, each flow also comes with `m.login.email.identity` (the only
    /// ones when an email address is required).
    var registrationFlows: [[String]] {
        let base = config.registrationTokens.isEmpty && !config.registrationRequiresToken ? [["m.login.dummy"]] : [["m.login.registration_token"]]
        guard let email = config.email else { return base }
        let withEmail = base.map { $0.filter { $0 != "m.login.dummy" } + ["m.login.email.identity"] }
        return email.requiredForRegistration ? withEmail : base + withEmail
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
        if try submitted.optionalString("type") == "m.login.application_service" { return try await registerAppServiceUser(request, body: submitted) }
        // The first request's parameters count for the one that completes its session.
        let remembered = try await uia.rememberedParams(submitted, operation: "register") ?? [:]
        var merged = remembered
        for (key, value) in submitted.objectValue ?? [:] { merged[key] = value }
        merged["password_hash"] = nil
        let body = JSON.object(merged)
        if let replayed = try await replayedRegistration(remembered, submitted: submitted, request: request) { return replayed }
        let kind = request.query("kind") ?? "user"
        let inhibitLogin = try body.optionalBool("inhibit_login") ?? false
        let deviceID = try body.optionalString("device_id")
        let deviceName = try body.optionalString("initial_device_display_name")
        let options = AccountService.SessionOptions(refreshable: try body.optionalBool("refresh_token") ?? false)
        switch kind {
        case "guest":
            guard config.allowGuestAccess else { throw MatrixError.guestAccessForbidden() }
            let userID = try await accounts.generatedUserID()
            let result = try await accounts.register(
                userID: userID, password: nil, isGuest: true, login: (deviceID, deviceName, request.remoteIP), options: options)
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
            // The server notices user's name stays free for it, and application services' exclusive namespaces for them.
            if userID.localpart == config.serverNoticesLocalpart?.lowercased() { throw MatrixError.userInUse() }
            try appServices.checkUserID(userID.description, caller: nil)
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
        let session = try await uia.require(
            .init(operation: "register", flows: registrationFlows, threePIDPurpose: ValidationPurpose.register.rawValue), body: body, remember: .object(remember), keepCompleted: true)
        // An admin-created token counts one use now, when the account is about to exist.
        if let token = session.params?[UserInteractiveAuth.databaseTokenKey]?.stringValue,
            try await !storage.useRegistrationToken(token, now: nowMillis())
        {
            throw MatrixError(401, "M_FORBIDDEN", "The registration token has been used up or has expired")
        }
        let passwordHash = remembered["password_hash"]?.stringValue
        guard password != nil || passwordHash != nil else { throw MatrixError.missingParam("Missing 'password'") }
        if let guest, let userID = UserID(guest.userID) {
            let hash = try await password.asyncMap { try await accounts.hashPassword($0) } ?? passwordHash ?? ""
            guard try await storage.upgradeGuest(userID: guest.userID, passwordHash: hash) else {
                throw MatrixError.forbidden("This guest account cannot be upgraded")
            }
            try await rememberRegistered(guest.userID, in: session)
            logger.info("upgraded guest to a full account", metadata: ["user_id": "\(userID)"])
            guard !inhibitLogin else { return .ok(["user_id": .string(guest.userID)]) }
            return .ok(
                try await accounts.openSession(
                    userID: guest.userID, deviceID: deviceID, displayName: deviceName, ip: request.remoteIP, options: options
                ).json)
        }
        let userID: UserID
        if let desiredUserID {
            userID = desiredUserID
        } else {
            userID = try await accounts.generatedUserID()
        }
        let result = try await accounts.register(
            userID: userID, password: password, passwordHash: password == nil ? passwordHash : nil,
            login: inhibitLogin ? nil : (deviceID, deviceName, request.remoteIP), options: options)
        try await rememberRegistered(userID.description, in: session)
        try await bindRegistrationEmail(session, to: userID.description)
        logger.info("registered user", metadata: ["user_id": "\(userID)"])
        return .ok(result?.json ?? ["user_id": .string(userID.description)])
    }

    /// The address confirmed during registration becomes the account's. Another account that
    /// bound it meanwhile keeps it: the registration itself has happened.
    private func bindRegistrationEmail(_ session: UIASession, to userID: String) async throws {
        guard let threePID = session.params?[UserInteractiveAuth.threePIDKey], let medium = threePID["medium"]?.stringValue,
            let address = threePID["address"]?.stringValue
        else { return }
        let now = nowMillis()
        do {
            try await storage.bindThreePID(
                userID: userID, UserThreePID(medium: medium, address: address, validatedAt: threePID["validated_at"]?.intValue ?? now, addedAt: now))
        } catch StorageError.conflict {
            logger.warning("registration email taken meanwhile", metadata: ["user_id": "\(userID)"])
        }
    }

    /// The completed session remembers whom it registered, so a client that lost the answer
    /// and repeats the request gets the same account, as Synapse answers it.
    private func rememberRegistered(_ userID: String, in session: UIASession) async throws {
        var session = session
        var params = session.params?.objectValue ?? [:]
        params["registered_user_id"] = .string(userID)
        params["password_hash"] = nil
        session.params = .object(params)
        try await storage.saveUIASession(session)
    }

    /// A repeat of a completed registration: the same user, logged in again unless the
    /// first request inhibited login. A repeat asking for another user name is refused.
    private func replayedRegistration(_ remembered: JSONObject, submitted: JSON, request: MatrixRequest) async throws -> MatrixResponse? {
        guard let userID = remembered["registered_user_id"]?.stringValue else { return nil }
        if let username = try submitted.optionalString("username"), username.lowercased() != remembered["username"]?.stringValue?.lowercased() {
            throw MatrixError.forbidden("This authentication session registered another account")
        }
        if try submitted.optionalBool("inhibit_login") ?? remembered["inhibit_login"]?.boolValue ?? false {
            return .ok(["user_id": .string(userID)])
        }
        let deviceID = try submitted.optionalString("device_id") ?? remembered["device_id"]?.stringValue
        let deviceName = try submitted.optionalString("initial_device_display_name") ?? remembered["initial_device_display_name"]?.stringValue
        let refreshable = try submitted.optionalBool("refresh_token") ?? remembered["refresh_token"]?.boolValue ?? false
        return .ok(
            try await accounts.openSession(
                userID: userID, deviceID: deviceID, displayName: deviceName, ip: request.remoteIP,
                options: AccountService.SessionOptions(refreshable: refreshable)
            ).json)
    }
}
