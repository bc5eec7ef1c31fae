import AxonStorage
import MatrixModel

/// What application services do with accounts (spec "Server admin style permissions",
/// "Using `/register`"): their sender exists from the start, they register and log in users
/// of their namespaces with their `as_token`, and exclusive namespaces stay theirs.
extension ServerContext {
    /// Each service's sender is a user, as Synapse makes it at start: requests with the
    /// `as_token` and no `user_id` act as it.
    func ensureAppServiceUsers() async throws {
        for service in appServices.services {
            let userID = service.sender(on: serverName)
            guard try await storage.account(userID: userID) == nil, let parsed = UserID(userID) else { continue }
            do {
                _ = try await accounts.register(userID: parsed, password: nil, login: nil)
            } catch let error as MatrixError where error.errcode == "M_USER_IN_USE" {}
        }
    }

    /// The service whose `as_token` the request carries. A user's valid token is refused
    /// with 403, not `M_UNKNOWN_TOKEN`, which would tell that client it was logged out.
    func callingAppService(_ request: MatrixRequest) async throws -> AppServiceRegistration {
        guard let token = request.accessToken else { throw MatrixError.missingToken() }
        if let service = appServices.service(asToken: token) { return service }
        if try await storage.tokenOwner(tokenHash: Authenticator.hash(token: token)) != nil {
            throw MatrixError.forbidden("Only application services may do this")
        }
        throw MatrixError.unknownToken("The token is not an application service's as_token")
    }

    /// `POST /register` with `type: m.login.application_service`: a user of the service's
    /// namespace, no password, no user-interactive auth.
    func registerAppServiceUser(_ request: MatrixRequest, body: JSON) async throws -> MatrixResponse {
        let service = try await callingAppService(request)
        guard let username = try body.optionalString("username") else { throw MatrixError.missingParam("Missing 'username'") }
        let userID: UserID
        if username.hasPrefix("@") {
            guard let parsed = UserID(username), parsed.server == serverName else { throw MatrixError.invalidUsername("Not a local user ID") }
            userID = parsed
        } else {
            userID = try accounts.validatedNewUserID(username)
        }
        guard service.claims(user: userID.description, on: serverName) else {
            throw MatrixError(400, "M_EXCLUSIVE", "\(userID) is not in the application service's namespace")
        }
        try appServices.checkUserID(userID.description, caller: service.id)
        try await accounts.ensureAvailable(userID)
        let inhibitLogin = try body.optionalBool("inhibit_login") ?? false
        let result = try await accounts.register(
            userID: userID, password: nil,
            login: inhibitLogin ? nil : (try body.optionalString("device_id"), try body.optionalString("initial_device_display_name"), request.remoteIP),
            options: AccountService.SessionOptions(refreshable: try body.optionalBool("refresh_token") ?? false))
        logger.info("application service registered a user", metadata: ["appservice": "\(service.id)", "user_id": "\(userID)"])
        return .ok(result?.json ?? ["user_id": .string(userID.description)])
    }

    /// `POST /login` with `type: m.login.application_service`: a session for a user of the
    /// service's namespace.
    func appServiceLogin(
        _ request: MatrixRequest, user: String, body: JSON, options: AccountService.SessionOptions
    ) async throws -> MatrixResponse {
        let service = try await callingAppService(request)
        guard let account = try await accounts.resolveLocalAccount(user), !account.isDeactivated else {
            throw MatrixError.forbidden("Unknown user \(user)")
        }
        guard service.claims(user: account.userID, on: serverName) else {
            throw MatrixError.forbidden("\(account.userID) is not in the application service's namespace")
        }
        let result = try await accounts.openSession(
            userID: account.userID, deviceID: try body.optionalString("device_id"),
            displayName: try body.optionalString("initial_device_display_name"), ip: request.remoteIP, options: options)
        try await announceDeviceListChange(account.userID, at: try await storage.markDeviceListChanged(userID: account.userID))
        return .ok(result.json)
    }
}
