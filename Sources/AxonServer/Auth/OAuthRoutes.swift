import AxonStorage
import Crypto
import Foundation
import MatrixModel

/// The OAuth 2.0 API's machine endpoints (spec "OAuth 2.0 API"): server metadata, dynamic
/// client registration, the token endpoint with its three grants, revocation (RFC 7009) and
/// device authorisation (RFC 8628). The pages a user sees are in `AuthorizationPages`.
extension ServerContext {
    static let oauthPrefix = "/_axon/oauth2"
    static let devicePollIntervalSeconds: Int64 = 5

    var oauthBase: String { String(config.baseURL.dropLast()) }

    func registerOAuthRoutes(on routes: RouteTable) {
        guard config.oauthEnabled else { return }
        for path in ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"] {
            routes.add(.get, path, auth: .none) { _ in
                var response = MatrixResponse.ok(authMetadata)
                response.headers[.cacheControl] = "public, max-age=3600"
                return response
            }
        }
        routes.add(.post, Self.oauthPrefix + "/registration", auth: .none, rateLimit: .webPage) { request in
            try await OAuthError.answering {
                guard let body = try? request.json() else { throw OAuthError("invalid_client_metadata", "The body must be JSON") }
                return try await registerClient(body)
            }
        }
        routes.add(.post, Self.oauthPrefix + "/token", auth: .none, rateLimit: .refresh) { request in
            try await OAuthError.answering { try await tokenEndpoint(request) }
        }
        routes.add(.post, Self.oauthPrefix + "/revoke", auth: .none, rateLimit: .refresh) { request in
            try await OAuthError.answering { try await revoke(try request.formFields()) }
        }
        routes.add(.post, Self.oauthPrefix + "/device", auth: .none, rateLimit: .webPage) { request in
            try await OAuthError.answering { try await authorizeDevice(try request.formFields()) }
        }
    }

    private var authMetadata: JSON {
        [
            "issuer": .string(config.baseURL),
            "authorization_endpoint": .string(oauthBase + Self.oauthPrefix + "/authorize"),
            "token_endpoint": .string(oauthBase + Self.oauthPrefix + "/token"),
            "registration_endpoint": .string(oauthBase + Self.oauthPrefix + "/registration"),
            "revocation_endpoint": .string(oauthBase + Self.oauthPrefix + "/revoke"),
            "device_authorization_endpoint": .string(oauthBase + Self.oauthPrefix + "/device"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment"],
            "grant_types_supported": [.string(ClientMetadata.authorizationCode), .string(ClientMetadata.refreshToken), .string(ClientMetadata.deviceCode)],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [.string(OAuthScope.api), .string(OAuthScope.devicePrefix + "*")],
            "prompt_values_supported": config.registrationOpen ? ["create"] : [],
            "account_management_uri": .string(oauthBase + AccountPages.path),
            "account_management_actions_supported": .array(AccountPages.actions.map(JSON.string)),
        ]
    }

    private func registerClient(_ body: JSON) async throws -> MatrixResponse {
        let metadata: ClientMetadata
        do {
            metadata = try ClientMetadata.validate(body)
        } catch {
            throw OAuthError(error.error, error.description)
        }
        let now = nowMillis()
        let clientID = "axon_" + RandomString.alphanumeric(20)
        let answer = metadata.json(clientID: clientID, issuedAt: now)
        try await storage.saveOAuthClient(OAuthClient(clientID: clientID, metadata: answer, createdAt: now))
        logger.info("registered OAuth client", metadata: ["client_id": "\(clientID)", "client_uri": "\(metadata.clientURI)"])
        return MatrixResponse(status: .created, json: answer, headers: [.cacheControl: "no-store"])
    }

    /// The client a request names, as a body field or in an HTTP Basic header with no secret.
    private func requestingClient(_ request: MatrixRequest, _ fields: [String: String]) async throws -> (OAuthClient, ClientMetadata) {
        var clientID = fields["client_id"]
        if clientID == nil, let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) })
        {
            clientID = decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.flatMap { PercentDecoding.decode($0) }
        }
        guard let clientID else { throw OAuthError.invalidClient("Missing client_id") }
        guard let client = try await storage.oauthClient(id: clientID), let metadata = ClientMetadata(stored: client.metadata) else {
            throw OAuthError.invalidClient("Unknown client")
        }
        return (client, metadata)
    }

    private func tokenEndpoint(_ request: MatrixRequest) async throws -> MatrixResponse {
        let fields = try request.formFields()
        guard let grant = fields["grant_type"] else { throw OAuthError.invalidRequest("Missing grant_type") }
        let (client, metadata) = try await requestingClient(request, fields)
        guard metadata.grantTypes.contains(grant) else {
            throw OAuthError("unauthorized_client", "This client did not register the \(grant) grant")
        }
        switch grant {
        case ClientMetadata.authorizationCode:
            return try await redeemCode(fields, client: client, ip: request.remoteIP)
        case ClientMetadata.refreshToken:
            return try await refreshGrant(fields, client: client)
        case ClientMetadata.deviceCode:
            return try await pollDevice(fields, client: client, metadata: metadata, ip: request.remoteIP)
        default:
            throw OAuthError("unsupported_grant_type", "Grant type \(grant) is not supported")
        }
    }

    private func redeemCode(_ fields: [String: String], client: OAuthClient, ip: String) async throws -> MatrixResponse {
        guard let code = fields["code"], let redirectURI = fields["redirect_uri"], let verifier = fields["code_verifier"] else {
            throw OAuthError.invalidRequest("code, redirect_uri and code_verifier are required")
        }
        switch try await storage.redeemAuthorizationCode(codeHash: Authenticator.hash(token: code), now: nowMillis()) {
        case .unknown:
            throw OAuthError.invalidGrant("Unknown or expired authorization code")
        case .reused(let userID, let deviceID):
            // RFC 6749 §4.1.2: what was issued for a code used twice is revoked.
            logger.warning("authorization code reused: session revoked", metadata: ["user_id": "\(userID)", "device_id": "\(deviceID)"])
            try await endSession(userID: userID, deviceID: deviceID)
            throw OAuthError.invalidGrant("This authorization code was already used")
        case .redeemed(let grant):
            guard grant.clientID == client.clientID else { throw OAuthError.invalidGrant("The code was issued to another client") }
            guard grant.redirectURI == redirectURI else { throw OAuthError.invalidGrant("redirect_uri differs from the authorization request") }
            guard Self.pkceMatches(verifier: verifier, challenge: grant.codeChallenge) else {
                throw OAuthError.invalidGrant("code_verifier does not match the code challenge")
            }
            return try await issueOAuthSession(userID: grant.userID, deviceID: grant.deviceID, client: client, scope: grant.scope, ip: ip)
        }
    }

    /// RFC 7636 S256: BASE64URL(SHA256(verifier)) equals the challenge, compared in constant time.
    static func pkceMatches(verifier: String, challenge: String) -> Bool {
        guard verifier.utf8.allSatisfy(\.isURIUnreserved), (43...128).contains(verifier.utf8.count) else { return false }
        let computed = UnpaddedBase64.encode(Array(SHA256.hash(data: Array(verifier.utf8))), urlSafe: true)
        return constantTimeEqual(Array(computed.utf8), Array(challenge.utf8))
    }

    private func refreshGrant(_ fields: [String: String], client: OAuthClient) async throws -> MatrixResponse {
        guard let presented = fields["refresh_token"] else { throw OAuthError.invalidRequest("Missing refresh_token") }
        let now = nowMillis()
        let (accessToken, refreshToken, replacement) = accounts.refreshablePair(now: now)
        switch try await storage.refreshSession(
            presentedHash: Authenticator.hash(token: presented), clientID: client.clientID, replacement: replacement, now: now)
        {
        case .refreshed(let userID, _, let scope):
            if try await storage.accountRestrictions(userID: userID)?.locked == true { throw OAuthError.invalidGrant("The account is locked") }
            return tokenResponse(access: accessToken, refresh: refreshToken, scope: scope ?? "")
        case .unknown, .expired:
            throw OAuthError.invalidGrant("Unknown or expired refresh token")
        case .reused(let userID, let deviceID):
            logger.warning("refresh token reused: session revoked", metadata: ["user_id": "\(userID)", "device_id": "\(deviceID)"])
            try await endSession(userID: userID, deviceID: deviceID)
            throw OAuthError.invalidGrant("This refresh token was already used: the session has been ended")
        }
    }

    /// A new session for a grant: the device the scope names is made (or given new tokens,
    /// ending its old ones) and gets a short access token and a refresh token.
    func issueOAuthSession(userID: String, deviceID: String, client: OAuthClient, scope: String, ip: String) async throws -> MatrixResponse {
        if try await storage.accountRestrictions(userID: userID)?.locked == true { throw OAuthError("access_denied", "The account is locked") }
        let now = nowMillis()
        let (accessToken, refreshToken, tokens) = accounts.refreshablePair(now: now)
        try await storage.createSession(
            NewSession(
                device: Device(userID: userID, deviceID: deviceID, displayName: ClientMetadata(stored: client.metadata)?.displayName),
                tokenHash: tokens.accessTokenHash, createdAt: now, ip: ip, accessExpiresAt: tokens.accessExpiresAt,
                refreshTokenHash: tokens.refreshTokenHash, refreshExpiresAt: tokens.refreshExpiresAt, oauthClientID: client.clientID, scope: scope))
        try await announceDeviceListChange(userID, at: try await storage.markDeviceListChanged(userID: userID))
        logger.info("OAuth session opened", metadata: ["user_id": "\(userID)", "device_id": "\(deviceID)", "client_id": "\(client.clientID)"])
        return tokenResponse(access: accessToken, refresh: refreshToken, scope: scope)
    }

    private func tokenResponse(access: String, refresh: String, scope: String) -> MatrixResponse {
        MatrixResponse(
            json: [
                "access_token": .string(access), "token_type": "Bearer", "expires_in": .int(accounts.lifetimes.refreshableAccessMs / 1000),
                "refresh_token": .string(refresh), "scope": .string(scope),
            ], headers: [.cacheControl: "no-store"])
    }

    /// RFC 7009: the session of an access or refresh token ends, device and all. Unknown
    /// tokens are answered 200 too, and a client_id that does not match does not stop it
    /// (spec "Token revocation": leaked tokens can be revoked by anyone holding them).
    private func revoke(_ fields: [String: String]) async throws -> MatrixResponse {
        guard let token = fields["token"], !token.isEmpty else { throw OAuthError.invalidRequest("Missing token") }
        if let hint = fields["token_type_hint"], hint != "access_token", hint != "refresh_token" {
            throw OAuthError("unsupported_token_type", "token_type_hint must be access_token or refresh_token")
        }
        if let owner = try await storage.tokenDevice(tokenHash: Authenticator.hash(token: token)) {
            if let clientID = fields["client_id"], owner.clientID != clientID {
                logger.warning("token revoked by another client than its own", metadata: ["user_id": "\(owner.userID)", "device_id": "\(owner.deviceID)"])
            }
            try await endSession(userID: owner.userID, deviceID: owner.deviceID)
        }
        return MatrixResponse(json: [:], headers: [.cacheControl: "no-store"])
    }

    private func authorizeDevice(_ fields: [String: String]) async throws -> MatrixResponse {
        guard let clientID = fields["client_id"], let client = try await storage.oauthClient(id: clientID),
            let metadata = ClientMetadata(stored: client.metadata)
        else { throw OAuthError.invalidClient("Unknown client") }
        guard metadata.grantTypes.contains(ClientMetadata.deviceCode) else {
            throw OAuthError("unauthorized_client", "This client did not register the device code grant")
        }
        let scope: OAuthScope
        do { scope = try OAuthScope.parse(fields["scope"] ?? "") } catch { throw OAuthError("invalid_scope", error.description) }
        let deviceCode = Authenticator.generateToken()
        let userCode = Self.newUserCode()
        let now = nowMillis()
        try await storage.saveDeviceAuthorization(
            OAuthDeviceAuthorization(
                deviceCodeHash: Authenticator.hash(token: deviceCode), userCode: userCode, clientID: clientID, scope: scope.text,
                deviceID: scope.deviceID, createdAt: now, expiresAt: now + accounts.lifetimes.deviceCodeMs))
        let verification = oauthBase + DeviceLinkPages.path
        return MatrixResponse(
            json: [
                "device_code": .string(deviceCode), "user_code": .string(userCode), "verification_uri": .string(verification),
                "verification_uri_complete": .string(verification + "?user_code=" + PercentEncoding.queryValue(userCode)),
                "expires_in": .int(accounts.lifetimes.deviceCodeMs / 1000), "interval": .int(Self.devicePollIntervalSeconds),
            ], headers: [.cacheControl: "no-store"])
    }

    /// Eight letters a person can read out and type (RFC 8628 §6.1: no vowels, no look-alikes).
    static func newUserCode() -> String {
        let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")
        let letters = RandomString.bytes(8).map { alphabet[Int($0) % alphabet.count] }
        return String(letters[0..<4]) + "-" + String(letters[4..<8])
    }

    private func pollDevice(_ fields: [String: String], client: OAuthClient, metadata: ClientMetadata, ip: String) async throws -> MatrixResponse {
        guard let deviceCode = fields["device_code"] else { throw OAuthError.invalidRequest("Missing device_code") }
        let now = nowMillis()
        guard let authorization = try await storage.pollDeviceAuthorization(deviceCodeHash: Authenticator.hash(token: deviceCode), now: now),
            authorization.clientID == client.clientID
        else { throw OAuthError.invalidGrant("Unknown device_code") }
        guard authorization.expiresAt > now else { throw OAuthError("expired_token", "The device code has expired") }
        switch authorization.status {
        case .pending:
            if let last = authorization.lastPolledAt, now - last < Self.devicePollIntervalSeconds * 1000 {
                throw OAuthError("slow_down", "Poll at most every \(Self.devicePollIntervalSeconds) seconds")
            }
            throw OAuthError("authorization_pending", "The user has not answered yet")
        case .denied:
            throw OAuthError("access_denied", "The user denied the request")
        case .exchanged:
            throw OAuthError.invalidGrant("The device code was already exchanged")
        case .approved:
            guard let userID = authorization.userID else { throw OAuthError.invalidGrant("Unknown device_code") }
            return try await issueOAuthSession(userID: userID, deviceID: authorization.deviceID, client: client, scope: authorization.scope, ip: ip)
        }
    }
}
