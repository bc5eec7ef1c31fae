import AxonStorage
import Crypto
import Foundation
import HTTPTypes
import MatrixModel

/// Single sign-on through upstream OpenID Connect providers (spec "Client login via SSO"):
/// `/login/sso/redirect` sends the browser to the provider, the callback maps its subject to
/// a local account (made on the first sign-in) and hands the client a login token; the same
/// callback completes `m.login.sso` for user-interactive auth and signs in the web pages.
extension ServerContext {
    static let ssoCallbackPath = "/_axon/sso/callback"
    static let ssoAttemptLifetimeMs: Int64 = 10 * 60 * 1000

    var ssoEnabled: Bool { !config.oidcProviders.isEmpty }

    static let authDoneScript =
        "if (window.onAuthDone) { window.onAuthDone(); } else if (window.opener && window.opener.postMessage) { window.opener.postMessage(\"authDone\", \"*\"); }"

    var identityProviders: JSON {
        .array(config.oidcProviders.map { ["id": .string($0.id), "name": .string($0.name)] })
    }

    func registerSSORoutes(on routes: RouteTable) {
        guard ssoEnabled else { return }
        routes.client(.get, "/login/sso/redirect", auth: .none, rateLimit: .webPage) { request in
            try await startClientLogin(request, providerID: config.oidcProviders.count == 1 ? config.oidcProviders[0].id : nil)
        }
        routes.client(.get, "/login/sso/redirect/{idpId}", auth: .none, rateLimit: .webPage) { request in
            try await startClientLogin(request, providerID: request.parameter("idpId"))
        }
        routes.add(.get, "/_axon/sso/start/{idpId}", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard let provider = oidc.provider(request.parameter("idpId")) else {
                return Self.errorPage("Unknown provider", "This server has no such sign-in provider.", status: .notFound).response(cookie: cookie)
            }
            if let session = request.query("session") {
                return try await redirectToProvider(provider, purpose: .uia, target: session, cookie: cookie)
            }
            return try await redirectToProvider(provider, purpose: .web, target: Self.safeNext(request.query("next")), cookie: cookie)
        }
        routes.add(.get, Self.ssoCallbackPath, auth: .none, rateLimit: .webPage) { request in
            try await ssoCallback(request)
        }
        routes.client(.get, "/auth/m.login.sso/fallback/web", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard let session = request.query("session") else {
                return Self.errorPage("Missing session", "This page needs the authentication session.").response(cookie: cookie)
            }
            return ssoPickerPage(cookie: cookie, title: "Confirm it is you") { "/_axon/sso/start/\($0.id)?session=\(PercentEncoding.queryValue(session))" }
        }
    }

    private func startClientLogin(_ request: MatrixRequest, providerID: String?) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        guard let redirectURL = request.query("redirectUrl"), let parsed = URLComponents(string: redirectURL), let scheme = parsed.scheme else {
            throw MatrixError.missingParam("Missing or invalid 'redirectUrl'")
        }
        // The login token goes to an app: never to a URL a browser would run or read locally.
        guard !["javascript", "data", "vbscript", "file", "blob"].contains(scheme.lowercased()) else {
            throw MatrixError.invalidParam("'redirectUrl' may not use the \(scheme) scheme")
        }
        guard let providerID else {
            return ssoPickerPage(cookie: cookie, title: "Choose how to sign in") {
                "/_matrix/client/v3/login/sso/redirect/\($0.id)?redirectUrl=\(PercentEncoding.queryValue(redirectURL))"
            }
        }
        guard let provider = oidc.provider(providerID) else { throw MatrixError.notFound("Unknown identity provider \(providerID)") }
        return try await redirectToProvider(provider, purpose: .login, target: redirectURL, cookie: cookie)
    }

    private func ssoPickerPage(cookie: BrowserCookie, title: String, link: (OIDCProviderConfig) -> String) -> MatrixResponse {
        let buttons = config.oidcProviders.map { "<p><a class=\"button\" id=\"idp-\(WebPage.escape($0.id))\" href=\"\(WebPage.escape(link($0)))\">Continue with \(WebPage.escape($0.name))</a></p>" }
        return WebPage(title: title, body: "<h1>\(WebPage.escape(title))</h1>\(buttons.joined())").response(cookie: cookie)
    }

    private func redirectToProvider(
        _ provider: OIDCProviderConfig, purpose: SSOAttempt.Purpose, target: String, cookie: BrowserCookie
    ) async throws -> MatrixResponse {
        let endpoints: OIDCClient.Endpoints
        do {
            endpoints = try await oidc.endpoints(provider)
        } catch let failure as OIDCClient.Failure {
            logger.warning("SSO provider unavailable", metadata: ["idp": "\(provider.id)", "error": "\(failure.message)"])
            return Self.errorPage("Sign-in unavailable", "\(provider.name) cannot be reached right now.", status: .badGateway).response(cookie: cookie)
        }
        let state = RandomString.alphanumeric(32)
        let nonce = RandomString.alphanumeric(32)
        let verifier = RandomString.alphanumeric(64)
        try await storage.saveSSOAttempt(
            SSOAttempt(
                stateHash: Authenticator.hash(token: state), providerID: provider.id, browserHash: cookie.sessionHash, nonce: nonce,
                codeVerifier: verifier, purpose: purpose, target: target, createdAt: nowMillis()))
        var parameters: [(String, String?)] = [
            ("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", oauthBase + Self.ssoCallbackPath),
            ("scope", provider.scopes.joined(separator: " ")), ("state", state), ("nonce", nonce),
        ]
        if provider.pkce {
            let challenge = UnpaddedBase64.encode(Array(SHA256.hash(data: Array(verifier.utf8))), urlSafe: true)
            parameters += [("code_challenge", challenge), ("code_challenge_method", "S256")]
        }
        return WebPage.redirect(to: Self.clientRedirect(endpoints.authorization, mode: "query", parameters), cookie: cookie, status: .found)
    }

    private func ssoCallback(_ request: MatrixRequest) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        func failure(_ message: String, status: HTTPResponse.Status = .badRequest) -> MatrixResponse {
            Self.errorPage("Sign-in failed", message, status: status).response(cookie: cookie)
        }
        guard let state = request.query("state"), let attempt = try await storage.takeSSOAttempt(stateHash: Authenticator.hash(token: state)),
            nowMillis() - attempt.createdAt < Self.ssoAttemptLifetimeMs
        else { return failure("This sign-in is unknown or has expired. Start again from your app.") }
        // The callback must come back to the browser that started the sign-in (no login CSRF).
        guard !cookie.isNew, constantTimeEqual(Array(cookie.sessionHash.utf8), Array(attempt.browserHash.utf8)),
            let provider = oidc.provider(attempt.providerID)
        else { return failure("This sign-in was started in another browser. Start again from your app.", status: .forbidden) }
        if let error = request.query("error") {
            let detail = request.query("error_description").map { ": \($0)" } ?? ""
            return failure(error == "access_denied" ? "\(provider.name) did not let you sign in." : "\(provider.name) refused the sign-in (\(error)\(detail)).")
        }
        guard let code = request.query("code") else { return failure("\(provider.name) sent no authorization code.") }
        let claims: JSONObject
        do {
            claims = try await oidc.claims(
                provider, code: code, verifier: attempt.codeVerifier, nonce: attempt.nonce, redirectURI: oauthBase + Self.ssoCallbackPath)
        } catch let error as OIDCClient.Failure {
            logger.warning("SSO callback failed", metadata: ["idp": "\(provider.id)", "error": "\(error.message)"])
            return failure("\(provider.name) gave an answer Axon cannot use: \(error.message).", status: .badGateway)
        }
        let userID: String
        do {
            userID = try await ssoUser(provider, claims: claims)
        } catch let error as MatrixError {
            return failure(error.message, status: .forbidden)
        }
        if try await storage.accountRestrictions(userID: userID)?.locked == true {
            return failure("This account has been locked by the server's admins.", status: .forbidden)
        }
        switch attempt.purpose {
        case .login:
            let token = Authenticator.generateToken()
            let now = nowMillis()
            try await storage.createLoginToken(
                tokenHash: Authenticator.hash(token: token), userID: userID, createdAt: now, expiresAt: now + accounts.lifetimes.loginTokenMs)
            let destination = Self.clientRedirect(attempt.target, mode: "query", [("loginToken", token)])
            if config.ssoRedirectAllowlist.contains(where: { attempt.target.hasPrefix($0) }) {
                return WebPage.redirect(to: destination, cookie: cookie)
            }
            return confirmationPage(userID: userID, destination: destination, target: attempt.target, cookie: cookie)
        case .uia:
            guard var session = try await storage.uiaSession(id: attempt.target), session.userID == userID else {
                return failure("You signed in as another user than the one this confirmation is for.", status: .forbidden)
            }
            if !session.completedStages.contains("m.login.sso") { session.completedStages.append("m.login.sso") }
            try await storage.saveUIASession(session)
            // Spec "Fallback": the page tells the client it is done, when it opened it.
            return WebPage(
                title: "Confirmed", body: "<h1 id=\"outcome\">Confirmed</h1><p>Go back to your app to continue.</p>",
                script: Self.authDoneScript
            ).response(cookie: cookie)
        case .web:
            return WebPage.redirect(to: Self.safeNext(attempt.target), cookie: try await startWebSession(userID: userID))
        }
    }

    /// As Synapse does for a `redirectUrl` it was not told to trust: the user sees where the
    /// login goes before it goes there.
    private func confirmationPage(userID: String, destination: String, target: String, cookie: BrowserCookie) -> MatrixResponse {
        let place = URLComponents(string: target).flatMap { $0.host ?? $0.scheme } ?? target
        return WebPage(
            title: "Continue to your app",
            body: """
                <h1>Continue to your app?</h1><p>You are signing in as <strong>\(WebPage.escape(userID))</strong> to an app at
                <code>\(WebPage.escape(place))</code>. Only continue if you started this sign-in yourself.</p>
                <p><a class="button" id="continue" href="\(WebPage.escape(destination))">Continue</a></p>
                """
        ).response(cookie: cookie)
    }

    /// The account a provider's subject signs in to: the linked one, else one made (or, with
    /// `allow_existing_users`, linked) from the claims.
    func ssoUser(_ provider: OIDCProviderConfig, claims: JSONObject) async throws -> String {
        guard let subject = claims["sub"]?.stringValue else { throw MatrixError.forbidden("The provider named no subject") }
        if let linked = try await storage.externalUser(providerID: provider.id, subject: subject) {
            guard let account = try await storage.account(userID: linked), !account.isDeactivated else {
                throw MatrixError.forbidden("This account has been deactivated.")
            }
            return linked
        }
        guard let wanted = claims[provider.localpartClaim]?.stringValue, !wanted.isEmpty else {
            throw MatrixError.forbidden("\(provider.name) did not give a '\(provider.localpartClaim)' to name the account with.")
        }
        let base = Self.mappedLocalpart(wanted)
        for attempt in 0..<10 {
            let candidate = attempt == 0 ? base : base + String(attempt + 1)
            guard let userID = try? accounts.validatedNewUserID(candidate), userID.localpart != config.serverNoticesLocalpart?.lowercased(),
                (try? appServices.checkUserID(userID.description, caller: nil)) != nil
            else { continue }
            if let existing = try await storage.account(userID: userID.description) {
                guard provider.allowExistingUsers, attempt == 0, !existing.isDeactivated else { continue }
                _ = try await storage.linkExternalID(providerID: provider.id, subject: subject, userID: existing.userID, now: nowMillis())
                return existing.userID
            }
            guard config.registrationOpen else { throw MatrixError.forbidden("This server does not take new accounts.") }
            do {
                _ = try await accounts.register(
                    userID: userID, password: nil, displayName: claims[provider.displayNameClaim]?.stringValue, login: nil)
            } catch let error as MatrixError where error.errcode == "M_USER_IN_USE" {
                continue
            }
            guard try await storage.linkExternalID(providerID: provider.id, subject: subject, userID: userID.description, now: nowMillis()) else {
                // Another sign-in of the same subject linked first.
                return try await storage.externalUser(providerID: provider.id, subject: subject) ?? userID.description
            }
            logger.info("registered user through SSO", metadata: ["user_id": "\(userID)", "idp": "\(provider.id)"])
            return userID.description
        }
        throw MatrixError.forbidden("No free user name could be made from '\(wanted)'.")
    }

    /// Lowercased, with anything a localpart may not hold written as `=xx` (Synapse's mapping).
    static func mappedLocalpart(_ text: String) -> String {
        var out = ""
        for byte in text.lowercased().utf8 {
            if byte.isASCIIAlphanumeric || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "+")].contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "=" + String(byte, radix: 16).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
