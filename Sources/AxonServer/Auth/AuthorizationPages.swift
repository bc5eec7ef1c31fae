import AxonStorage
import Foundation
import HTTPTypes
import MatrixModel

/// The authorisation code grant as the user sees it (spec "Authorisation code flow"): the
/// request is checked and kept, the user signs in (or signs up with `prompt=create`) and is
/// asked to consent, and the browser goes back to the client with a code or an error.
extension ServerContext {
    static let authorizationRequestLifetimeMs: Int64 = 60 * 60 * 1000

    func registerAuthorizationRoutes(on routes: RouteTable) {
        guard config.oauthEnabled else { return }
        routes.add(.get, Self.oauthPrefix + "/authorize", auth: .none, rateLimit: .webPage) { request in
            try await authorize(request)
        }
        routes.add(.get, "/_axon/authorize/{requestId}", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            let path = "/_axon/authorize/" + request.parameter("requestId")
            guard let pending = try await pendingRequest(request.parameter("requestId")),
                let client = try await storage.oauthClient(id: pending.clientID), let metadata = ClientMetadata(stored: client.metadata)
            else { return Self.expiredRequestPage.response(cookie: cookie) }
            guard let userID = try await signedInUser(cookie) else {
                return pending.wantsRegistration && config.registrationOpen
                    ? registrationPage(next: path, cookie: cookie) : loginPage(next: path, cookie: cookie)
            }
            return consentPage(pending, metadata: metadata, userID: userID, cookie: cookie)
        }
        routes.add(.post, "/_axon/authorize/{requestId}", auth: .none, rateLimit: .webPage) { request in
            try await answerConsent(request)
        }
    }

    static let expiredRequestPage = errorPage(
        "Sign-in request expired", "This sign-in request is unknown or has expired. Start again from your app.", status: .notFound)

    private func pendingRequest(_ id: String) async throws -> OAuthAuthorizationRequest? {
        guard let pending = try await storage.authorizationRequest(id: id),
            nowMillis() - pending.createdAt < Self.authorizationRequestLifetimeMs
        else { return nil }
        return pending
    }

    /// Until the client and its redirect URI are known good, problems are shown to the user;
    /// after that they go back to the client (RFC 6749 §4.1.2.1).
    private func authorize(_ request: MatrixRequest) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        guard let clientID = request.query("client_id"), let client = try await storage.oauthClient(id: clientID),
            let metadata = ClientMetadata(stored: client.metadata)
        else { return Self.errorPage("Unknown app", "The app asking to sign you in is not registered here.").response(cookie: cookie) }
        guard let redirectURI = request.query("redirect_uri"), metadata.allowsRedirect(redirectURI) else {
            return Self.errorPage("Invalid request", "The app gave a return address it did not register.").response(cookie: cookie)
        }
        let mode = request.query("response_mode") ?? "query"
        let state = request.query("state")
        func refuse(_ error: String, _ description: String) -> MatrixResponse {
            WebPage.redirect(
                to: Self.clientRedirect(redirectURI, mode: mode == "fragment" ? "fragment" : "query", [
                    ("error", error), ("error_description", description), ("state", state),
                ]), cookie: cookie)
        }
        guard mode == "query" || mode == "fragment" else { return refuse("invalid_request", "response_mode must be query or fragment") }
        guard request.query("response_type") == "code" else { return refuse("unsupported_response_type", "Only response_type=code is supported") }
        guard metadata.grantTypes.contains(ClientMetadata.authorizationCode) else {
            return refuse("unauthorized_client", "This client did not register the authorization code grant")
        }
        guard let challenge = request.query("code_challenge"), request.query("code_challenge_method") == "S256",
            (43...128).contains(challenge.utf8.count)
        else { return refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256") }
        let scope: OAuthScope
        do { scope = try OAuthScope.parse(request.query("scope") ?? "") } catch { return refuse("invalid_scope", error.description) }
        let prompts = (request.query("prompt") ?? "").split(separator: " ")
        let pending = OAuthAuthorizationRequest(
            id: RandomString.alphanumeric(32), clientID: clientID, redirectURI: redirectURI, scope: scope.text, deviceID: scope.deviceID,
            state: state, responseMode: mode, codeChallenge: challenge, wantsRegistration: prompts.contains("create"), createdAt: nowMillis())
        try await storage.saveAuthorizationRequest(pending)
        return WebPage.redirect(to: "/_axon/authorize/" + pending.id, cookie: cookie, status: .found)
    }

    static func clientRedirect(_ uri: String, mode: String, _ parameters: [(String, String?)]) -> String {
        let encoded = parameters.compactMap { name, value in value.map { "\(name)=\(PercentEncoding.queryValue($0))" } }.joined(separator: "&")
        if mode == "fragment" { return uri + "#" + encoded }
        return uri + (uri.contains("?") ? "&" : "?") + encoded
    }

    /// Where the consent form's answer is redirected to, for the page's `form-action`.
    static func formTarget(_ redirectURI: String) -> String {
        guard let parsed = URLComponents(string: redirectURI), let scheme = parsed.scheme else { return "'none'" }
        guard let host = parsed.host, !host.isEmpty else { return scheme + ":" }
        return "\(scheme)://\(host)" + (parsed.port.map { ":\($0)" } ?? "")
    }

    private func consentPage(_ pending: OAuthAuthorizationRequest, metadata: ClientMetadata, userID: String, cookie: BrowserCookie) -> MatrixResponse {
        let name = WebPage.escape(metadata.displayName)
        let logo = metadata.logoURI.map { "<img class=\"logo\" src=\"\(WebPage.escape($0))\" alt=\"\">" } ?? ""
        var links = ["<a href=\"\(WebPage.escape(metadata.clientURI))\" rel=\"noopener\">\(WebPage.escape(metadata.clientURI))</a>"]
        if let tos = metadata.tosURI { links.append("<a href=\"\(WebPage.escape(tos))\" rel=\"noopener\">Terms</a>") }
        if let policy = metadata.policyURI { links.append("<a href=\"\(WebPage.escape(policy))\" rel=\"noopener\">Privacy policy</a>") }
        let action = "/_axon/authorize/" + pending.id
        return WebPage(
            title: "Allow \(metadata.displayName)?",
            body: """
                \(logo)<h1>Allow <span id="client-name">\(name)</span> to use your account?</h1>
                <p>Signed in as <strong>\(WebPage.escape(userID))</strong>.</p>
                <p>\(name) will be able to read and send messages and do everything else your account can, as the new session
                <code>\(WebPage.escape(pending.deviceID))</code>. You can end that session at any time from your account page.</p>
                <p class="muted">\(links.joined(separator: " · "))</p>
                <form method="post" action="\(action)">\(WebPage.hidden("csrf", cookie.csrfToken))
                <button type="submit" name="action" value="allow" id="allow">Allow</button>
                <button type="submit" name="action" value="deny" class="secondary" id="deny">Deny</button></form>
                <form method="post" action="/_axon/logout" class="inline">\(WebPage.hidden("csrf", cookie.csrfToken))
                <p class="muted">Not you? <button type="submit" class="secondary">Sign out</button></p></form>
                """, formTargets: [Self.formTarget(pending.redirectURI)]
        ).response(cookie: cookie)
    }

    private func answerConsent(_ request: MatrixRequest) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        let fields = try request.formFields()
        guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
        let path = "/_axon/authorize/" + request.parameter("requestId")
        guard let userID = try await signedInUser(cookie) else { return loginPage(next: path, cookie: cookie) }
        guard let pending = try await pendingRequest(request.parameter("requestId")) else { return Self.expiredRequestPage.response(cookie: cookie) }
        // An answer is given once: the request goes whatever it is.
        try await storage.deleteAuthorizationRequest(id: pending.id)
        guard fields["action"] == "allow" else {
            return WebPage.redirect(
                to: Self.clientRedirect(pending.redirectURI, mode: pending.responseMode, [
                    ("error", "access_denied"), ("error_description", "The user denied the request"), ("state", pending.state),
                ]), cookie: cookie)
        }
        let code = Authenticator.generateToken()
        let now = nowMillis()
        try await storage.saveAuthorizationCode(
            OAuthAuthorizationCode(
                codeHash: Authenticator.hash(token: code), clientID: pending.clientID, userID: userID, deviceID: pending.deviceID,
                scope: pending.scope, redirectURI: pending.redirectURI, codeChallenge: pending.codeChallenge,
                expiresAt: now + accounts.lifetimes.authorizationCodeMs), createdAt: now)
        return WebPage.redirect(
            to: Self.clientRedirect(pending.redirectURI, mode: pending.responseMode, [("state", pending.state), ("code", code)]), cookie: cookie)
    }
}
