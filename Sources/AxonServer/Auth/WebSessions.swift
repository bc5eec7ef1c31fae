import AxonStorage
import HTTPTypes
import MatrixModel

/// Who is signed in to the web pages, by the browser's cookie, and the shared sign-in and
/// sign-up forms every page falls back to.
extension ServerContext {
    static let webSessionIdleMs: Int64 = 7 * 24 * 3600 * 1000

    var secureCookies: Bool { config.baseURL.hasPrefix("https://") }

    func browserCookie(_ request: MatrixRequest) -> BrowserCookie {
        BrowserCookie.from(request, secure: secureCookies)
    }

    func signedInUser(_ cookie: BrowserCookie) async throws -> String? {
        guard !cookie.isNew else { return nil }
        let now = nowMillis()
        guard let session = try await storage.webSession(idHash: cookie.sessionHash, notBefore: now - Self.webSessionIdleMs, now: now) else {
            return nil
        }
        if try await storage.accountRestrictions(userID: session.userID)?.locked == true { return nil }
        return session.userID
    }

    /// Signing in gives the browser a new cookie, so a value planted before cannot ride the
    /// session (session fixation).
    func startWebSession(userID: String) async throws -> BrowserCookie {
        let cookie = BrowserCookie.fresh(secure: secureCookies)
        try await storage.createWebSession(idHash: cookie.sessionHash, userID: userID, now: nowMillis())
        return cookie
    }

    /// Only the pages' own paths are followed after a form, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/_axon/"), !next.contains("//"), !next.contains("\\"), !next.contains("\r"), !next.contains("\n")
        else { return AccountPages.path }
        return next
    }

    static func errorPage(_ title: String, _ message: String, status: HTTPResponse.Status = .badRequest) -> WebPage {
        WebPage(title: title, body: "<h1>\(WebPage.escape(title))</h1>\(WebPage.notice(message))", status: status)
    }

    func loginPage(next: String, cookie: BrowserCookie, error: String? = nil, status: HTTPResponse.Status = .ok) -> MatrixResponse {
        let register =
            config.registrationOpen
            ? "<p class=\"muted\">No account yet? <a href=\"/_axon/register?next=\(WebPage.escape(PercentEncoding.queryValue(next)))\">Create one</a></p>"
            : ""
        return WebPage(
            title: "Sign in to \(serverName)",
            body: """
                <h1>Sign in to \(WebPage.escape(serverName.description))</h1>\(WebPage.notice(error))
                <form method="post" action="/_axon/login">\(WebPage.hidden("csrf", cookie.csrfToken))\(WebPage.hidden("next", next))
                <label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required autofocus>
                <label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button></form>\(providerButtons(next: next))\(register)
                """, status: status
        ).response(cookie: cookie)
    }

    /// One link per upstream provider, leading back to `next` once signed in there.
    func providerButtons(next: String) -> String {
        config.oidcProviders.map {
            "<p><a class=\"button secondary\" id=\"idp-\(WebPage.escape($0.id))\" href=\"/_axon/sso/start/\(WebPage.escape($0.id))?next=\(WebPage.escape(PercentEncoding.queryValue(next)))\">Continue with \(WebPage.escape($0.name))</a></p>"
        }.joined()
    }

    var registrationNeedsToken: Bool { !config.registrationTokens.isEmpty || config.registrationRequiresToken }

    func registrationPage(next: String, cookie: BrowserCookie, error: String? = nil, status: HTTPResponse.Status = .ok) -> MatrixResponse {
        let token =
            registrationNeedsToken
            ? "<label for=\"token\">Registration token</label><input type=\"text\" id=\"token\" name=\"token\" required>" : ""
        return WebPage(
            title: "Create an account on \(serverName)",
            body: """
                <h1>Create an account on \(WebPage.escape(serverName.description))</h1>\(WebPage.notice(error))
                <form method="post" action="/_axon/register">\(WebPage.hidden("csrf", cookie.csrfToken))\(WebPage.hidden("next", next))
                <label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required autofocus>
                <label for="password">Password</label><input type="password" id="password" name="password" autocomplete="new-password" required>
                <label for="confirm">Password again</label><input type="password" id="confirm" name="confirm" autocomplete="new-password" required>
                \(token)<button type="submit">Create account</button></form>
                <p class="muted">Have an account? <a href="/_axon/login?next=\(WebPage.escape(PercentEncoding.queryValue(next)))">Sign in</a></p>
                """, status: status
        ).response(cookie: cookie)
    }

    func registerWebPageRoutes(on routes: RouteTable) {
        guard config.oauthEnabled else { return }
        routes.add(.get, WebPage.stylesheetPath, auth: .none) { _ in
            var response = MatrixResponse(bytes: Array(WebPage.stylesheet.utf8), contentType: "text/css; charset=utf-8")
            response.headers[.cacheControl] = "public, max-age=86400"
            return response
        }
        routes.add(.get, "/_axon/login", auth: .none, rateLimit: .webPage) { request in
            loginPage(next: Self.safeNext(request.query("next")), cookie: browserCookie(request))
        }
        routes.add(.post, "/_axon/login", auth: .none, rateLimit: .login) { request in
            try await signIn(request)
        }
        routes.add(.get, "/_axon/register", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard config.registrationOpen else {
                return Self.errorPage("Registration is closed", "This server does not take new accounts.", status: .forbidden).response(cookie: cookie)
            }
            return registrationPage(next: Self.safeNext(request.query("next")), cookie: cookie)
        }
        routes.add(.post, "/_axon/register", auth: .none, rateLimit: .registration) { request in
            try await signUp(request)
        }
        routes.add(.post, "/_axon/logout", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard cookie.acceptsForm(try request.formFields()) else { return Self.forgedForm(cookie) }
            try await storage.deleteWebSession(idHash: cookie.sessionHash)
            return WebPage.redirect(to: "/_axon/login", cookie: BrowserCookie.fresh(secure: secureCookies))
        }
    }

    static func forgedForm(_ cookie: BrowserCookie) -> MatrixResponse {
        errorPage("Form expired", "This form was not sent by this page, or has expired. Go back, reload it and try again.", status: .forbidden)
            .response(cookie: cookie)
    }

    private func signIn(_ request: MatrixRequest) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        let fields = try request.formFields()
        guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
        let next = Self.safeNext(fields["next"])
        let account = try await accounts.resolveLocalAccount(fields["username"] ?? "")
        guard try await accounts.verifyPassword(fields["password"] ?? "", account: account), let account else {
            return loginPage(next: next, cookie: cookie, error: "Wrong username or password.", status: .unauthorized)
        }
        if try await storage.accountRestrictions(userID: account.userID)?.locked == true {
            return loginPage(next: next, cookie: cookie, error: "This account has been locked by the server's admins.", status: .forbidden)
        }
        return WebPage.redirect(to: next, cookie: try await startWebSession(userID: account.userID))
    }

    private func signUp(_ request: MatrixRequest) async throws -> MatrixResponse {
        let cookie = browserCookie(request)
        let fields = try request.formFields()
        guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
        guard config.registrationOpen else {
            return Self.errorPage("Registration is closed", "This server does not take new accounts.", status: .forbidden).response(cookie: cookie)
        }
        let next = Self.safeNext(fields["next"])
        let password = fields["password"] ?? ""
        do {
            let userID = try accounts.validatedNewUserID(fields["username"] ?? "")
            if userID.localpart == config.serverNoticesLocalpart?.lowercased() { throw MatrixError.userInUse() }
            try appServices.checkUserID(userID.description, caller: nil)
            try await accounts.ensureAvailable(userID)
            guard !password.isEmpty, password == fields["confirm"] else { throw MatrixError(400, "M_WEAK_PASSWORD", "The passwords do not match") }
            if registrationNeedsToken {
                let token = fields["token"] ?? ""
                guard try await uia.isValidRegistrationToken(token) else { throw MatrixError.forbidden("Invalid registration token") }
                if !config.registrationTokens.contains(token), try await !storage.useRegistrationToken(token, now: nowMillis()) {
                    throw MatrixError.forbidden("The registration token has been used up or has expired")
                }
            }
            _ = try await accounts.register(userID: userID, password: password, login: nil)
            logger.info("registered user through the web pages", metadata: ["user_id": "\(userID)"])
            return WebPage.redirect(to: next, cookie: try await startWebSession(userID: userID.description))
        } catch let error as MatrixError {
            return registrationPage(next: next, cookie: cookie, error: error.message, status: .badRequest)
        }
    }
}
