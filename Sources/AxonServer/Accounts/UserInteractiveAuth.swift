import AxonStorage
import MatrixModel

/// User-interactive authentication (spec "User-Interactive Authentication API"). Sessions are
/// stored in the database so that any Axon node can continue a session another started, and
/// a session is bound to the operation it was started for.
struct UserInteractiveAuth: Sendable {
    let storage: any Storage
    let accounts: AccountService
    let registrationTokens: [String]
    /// Password stages count against the user's login limit: UIA is another way to guess.
    var rateLimiter: RateLimiter? = nil
    /// Upstream providers are configured: linked accounts may confirm through them.
    var ssoEnabled = false
    static let sessionLifetimeMs: Int64 = 30 * 60 * 1000

    struct Requirement {
        /// Identifies the protected operation, e.g. "register" or "delete_devices".
        var operation: String
        var flows: [[String]]
        var params: JSONObject = [:]
        /// For operations on an existing account: who must prove they are present.
        var user: String?
        /// What an `m.login.email.identity` stage's validation must have been asked for.
        var threePIDPurpose: String? = nil
    }

    /// Returns when the request's `auth` completes one of the flows; otherwise throws a 401
    /// carrying the flows, the session and what is completed (with errcode when a stage failed).
    /// `remember` is kept with a new session and given back by `rememberedParams`, so the
    /// request that completes the session need not repeat it (registration). Returns the
    /// completed session, which is kept (until it expires) only when `keepCompleted`.
    @discardableResult
    func require(_ requirement: Requirement, body: JSON, remember: JSON? = nil, keepCompleted: Bool = false) async throws -> UIASession {
        var requirement = requirement
        // An account signed in through an upstream provider can confirm itself there too
        // (`m.login.sso`, completed by the SSO callback through the fallback page).
        if ssoEnabled, let user = requirement.user, requirement.flows.contains(["m.login.password"]),
            try await !storage.externalIDs(userID: user).isEmpty
        {
            requirement.flows.append(["m.login.sso"])
        }
        let auth = try body.optionalObject("auth")
        let now = nowMillis()
        var session: UIASession
        if let sessionID = try auth?.optionalString("session") {
            guard let stored = try await storage.uiaSession(id: sessionID),
                now - stored.createdAt < Self.sessionLifetimeMs
            else {
                throw MatrixError.unknown("Unknown or expired UIA session")
            }
            guard stored.operation == requirement.operation, stored.userID == requirement.user else {
                throw MatrixError.forbidden("This authentication session was started for a different request")
            }
            session = stored
        } else {
            session = UIASession(
                sessionID: RandomString.alphanumeric(24), operation: requirement.operation, userID: requirement.user,
                completedStages: [], createdAt: now, params: remember)
        }
        guard let auth, auth["type"] != nil else {
            // A stage completed out of band (the SSO fallback page): the session alone finishes it.
            if auth != nil, requirement.flows.contains(where: { Set($0).isSubset(of: Set(session.completedStages)) }) {
                if keepCompleted { try await storage.saveUIASession(session) } else { try await storage.deleteUIASession(id: session.sessionID) }
                return session
            }
            try await storage.saveUIASession(session)
            throw challenge(requirement, session: session, failure: nil)
        }
        let type = try auth.requiredString("type")
        let allowedStages = Set(requirement.flows.flatMap { $0 })
        guard allowedStages.contains(type) else {
            try await storage.saveUIASession(session)
            throw challenge(requirement, session: session, failure: MatrixError.unknown("Stage \(type) is not offered here"))
        }
        if let failure = try await check(stage: type, auth: auth, requirement: requirement, session: &session) {
            try await storage.saveUIASession(session)
            throw challenge(requirement, session: session, failure: failure)
        }
        if !session.completedStages.contains(type) { session.completedStages.append(type) }
        // A token from the database is counted when the registration completes; the session
        // remembers which.
        if type == "m.login.registration_token", let token = auth["token"]?.stringValue, !registrationTokens.contains(token) {
            var params = session.params?.objectValue ?? [:]
            params[Self.databaseTokenKey] = .string(token)
            session.params = .object(params)
        }
        let completed = Set(session.completedStages)
        if requirement.flows.contains(where: { Set($0).isSubset(of: completed) }) {
            if keepCompleted { try await storage.saveUIASession(session) } else { try await storage.deleteUIASession(id: session.sessionID) }
            return session
        }
        try await storage.saveUIASession(session)
        throw challenge(requirement, session: session, failure: nil)
    }

    static let databaseTokenKey = "axon.registration_token"
    static let threePIDKey = "axon.threepid"

    /// `threepid_creds`, or `threepidCreds` as clients before r0.6 sent it.
    static func threePIDCredentials(_ auth: JSON) -> JSON? {
        auth["threepid_creds"] ?? auth["threepidCreds"]
    }

    /// A token from the configuration (unlimited) or one an admin created, still valid.
    func isValidRegistrationToken(_ token: String) async throws -> Bool {
        if registrationTokens.contains(token) { return true }
        return try await storage.registrationToken(token)?.isValid(at: nowMillis()) ?? false
    }

    /// What the session named in `body.auth.session` remembered for `operation`, if any.
    func rememberedParams(_ body: JSON, operation: String) async throws -> JSONObject? {
        guard let sessionID = body["auth"]?["session"]?.stringValue, let session = try await storage.uiaSession(id: sessionID),
            session.operation == operation
        else { return nil }
        return session.params?.objectValue
    }

    /// Checks one stage; returns the error to report inside the 401, or nil when it passed.
    private func check(stage: String, auth: JSON, requirement: Requirement, session: inout UIASession) async throws -> MatrixError? {
        switch stage {
        case "m.login.dummy":
            return nil
        case "m.login.email.identity":
            guard let purpose = requirement.threePIDPurpose,
                let validation = try await validatedThreePID(Self.threePIDCredentials(auth), purpose: purpose)
            else {
                return MatrixError(401, "M_THREEPID_AUTH_FAILED", "The email address has not been confirmed (or the link expired)")
            }
            // The confirmed address goes with the session: registration binds it, a password
            // reset finds its account by it.
            var params = session.params?.objectValue ?? [:]
            params[Self.threePIDKey] = [
                "medium": .string(validation.medium), "address": .string(validation.address), "validated_at": .int(validation.validatedAt ?? 0),
            ]
            session.params = .object(params)
            return nil
        case "m.login.sso":
            // Completed only by the SSO callback, never by the client's say-so.
            return MatrixError(401, "M_FORBIDDEN", "Complete m.login.sso through its fallback page")
        case "m.login.registration_token":
            guard let token = try auth.optionalString("token"), try await isValidRegistrationToken(token) else {
                return MatrixError(401, "M_FORBIDDEN", "Invalid registration token")
            }
            return nil
        case "m.login.password":
            let identifier = try auth.optionalObject("identifier")
            let user = try identifier?.optionalString("user") ?? auth.optionalString("user")
            let password = try auth.optionalString("password") ?? ""
            let account = try await user.asyncMap { try await accounts.resolveLocalAccount($0) } ?? nil
            if let expected = requirement.user, let wait = rateLimiter?.take(.login, key: "uia " + expected) {
                throw MatrixError.limitExceeded(retryAfterMs: wait)
            }
            // Naming another account than the one this session is for is not a wrong
            // password to retry but a refusal (403), as Synapse answers it.
            if let expected = requirement.user, let account, account.userID != expected {
                throw MatrixError.forbidden("This session can only be completed by \(expected)")
            }
            guard let expected = requirement.user, account?.userID == expected,
                try await accounts.verifyPassword(password, account: account)
            else {
                return MatrixError(401, "M_FORBIDDEN", "Invalid password")
            }
            return nil
        default:
            return MatrixError.unknown("Unsupported authentication stage \(stage)")
        }
    }

    private func challenge(_ requirement: Requirement, session: UIASession, failure: MatrixError?) -> MatrixError {
        var extra: JSONObject = [
            "flows": .array(requirement.flows.map { .object(["stages": .array($0.map(JSON.string))]) }),
            "params": .object(requirement.params),
            "session": .string(session.sessionID),
        ]
        // After a failed stage the client is told what it has completed, even if nothing.
        if !session.completedStages.isEmpty || failure != nil { extra["completed"] = .array(session.completedStages.map(JSON.string)) }
        guard let failure else { return MatrixError.uiaChallenge(extra) }
        return MatrixError(401, failure.errcode, failure.message, extra: extra)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
