import AxonStorage
import Foundation
import MatrixModel

/// Email address validation (spec "Adding Account Administrative Contact Information" and
/// the `requestToken` endpoints): a link with a one-time token is mailed, and following it
/// confirms the address for the purpose it was asked for.
extension ServerContext {
    enum ValidationPurpose: String {
        case register, password, add
    }

    static let emailSubmitPath = "/_axon/3pid/email/submit_token"

    /// Email addresses compare case-insensitively, as Synapse canonicalises them.
    static func canonicalEmail(_ text: String) throws(MatrixError) -> String {
        let address = text.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard address.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !address.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\"" || $0.isNewline })
        else { throw MatrixError.invalidParam("'\(text)' is not an email address") }
        return address
    }

    /// The spec's grammar for `client_secret`: `[0-9a-zA-Z.=_-]`, at most 255 characters.
    static func checkClientSecret(_ secret: String) throws(MatrixError) {
        guard (1...255).contains(secret.utf8.count),
            secret.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { throw MatrixError.invalidParam("'client_secret' must be 1 to 255 of 0-9 a-z A-Z . = _ -") }
    }

    func requestEmailToken(_ request: MatrixRequest, purpose: ValidationPurpose) async throws -> MatrixResponse {
        guard let email = config.email else {
            throw MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server does not send email")
        }
        let body = try request.jsonObject()
        let clientSecret = try body.requiredString("client_secret")
        try Self.checkClientSecret(clientSecret)
        let address = try Self.canonicalEmail(try body.requiredString("email"))
        guard let attempt = try body.optionalInt("send_attempt") else { throw MatrixError.missingParam("Missing 'send_attempt'") }
        let nextLink = try body.optionalString("next_link")
        if let nextLink, !(nextLink.hasPrefix("https://") || nextLink.hasPrefix("http://")) {
            throw MatrixError.invalidParam("'next_link' must be an http(s) URL")
        }
        let owner = try await storage.threePIDUser(medium: "email", address: address)
        switch purpose {
        case .register, .add:
            if owner != nil { throw MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use") }
        case .password:
            if owner == nil { throw MatrixError(400, "M_THREEPID_NOT_FOUND", "No account has this email address") }
        }
        let now = nowMillis()
        let existing = try await storage.threePIDValidation(clientSecret: clientSecret, medium: "email", address: address, purpose: purpose.rawValue)
        // The same send_attempt again is a retry: nothing is sent twice (spec "requestToken").
        if let existing, existing.expiresAt > now, existing.sendAttempt >= attempt { return .ok(["sid": .string(existing.sid)]) }
        let token = Authenticator.generateToken()
        let validation = ThreePIDValidation(
            sid: existing.flatMap { $0.expiresAt > now ? $0.sid : nil } ?? RandomString.alphanumeric(24), clientSecret: clientSecret,
            medium: "email", address: address, tokenHash: Authenticator.hash(token: token), purpose: purpose.rawValue, sendAttempt: attempt,
            nextLink: nextLink, createdAt: now, expiresAt: now + email.validationLifetimeMs)
        try await storage.saveThreePIDValidation(validation)
        let link = oauthBase + Self.emailSubmitPath + "?sid=\(PercentEncoding.queryValue(validation.sid))&client_secret="
            + PercentEncoding.queryValue(clientSecret) + "&token=" + PercentEncoding.queryValue(token)
        do {
            try await mailer(email).send(to: address, subject: Self.subject(purpose, server: serverName.description), text: Self.mailText(purpose, link: link, server: serverName.description))
        } catch let failure as SMTPClient.Failure where failure.recipientRefused {
            throw MatrixError(400, "M_THREEPID_DENIED", "The mail server refused this address")
        } catch {
            logger.error("could not send a validation email", metadata: ["error": "\(error)"])
            throw MatrixError(502, "M_UNKNOWN", "The email could not be sent: the mail server failed")
        }
        return .ok(["sid": .string(validation.sid)])
    }

    func mailer(_ email: EmailConfig) -> SMTPClient {
        SMTPClient(
            host: email.smtpHost, port: email.smtpPort, security: SMTPClient.Security(rawValue: email.smtpSecurity) ?? .starttls,
            username: email.smtpUser, password: email.smtpPassword, from: email.from, caFile: email.caFile, heloName: serverName.description)
    }

    static func subject(_ purpose: ValidationPurpose, server: String) -> String {
        switch purpose {
        case .register: "Confirm your email address for your new \(server) account"
        case .password: "Reset your \(server) password"
        case .add: "Confirm your email address for \(server)"
        }
    }

    static func mailText(_ purpose: ValidationPurpose, link: String, server: String) -> String {
        let why = switch purpose {
        case .register: "You are creating an account on \(server) with this email address."
        case .password: "Somebody asked to reset the password of the \(server) account with this email address."
        case .add: "You are adding this email address to your \(server) account."
        }
        return "\(why)\n\nTo confirm, open this link:\n\n\(link)\n\nThen go back to your app to continue. If this was not you, ignore this email.\n"
    }

    func registerEmailValidationRoutes(on routes: RouteTable) {
        routes.client(.post, "/register/email/requestToken", auth: .none, rateLimit: .emailToken) { request in
            guard config.registrationOpen else { throw MatrixError.forbidden("Registration has been disabled") }
            return try await requestEmailToken(request, purpose: .register)
        }
        routes.client(.post, "/account/password/email/requestToken", auth: .none, rateLimit: .emailToken) { request in
            try await requestEmailToken(request, purpose: .password)
        }
        routes.client(.post, "/account/3pid/email/requestToken", auth: .none, rateLimit: .emailToken) { request in
            try await requestEmailToken(request, purpose: .add)
        }
        // No SMS provider is configured on any Axon: the phone-number variants say so.
        for path in ["/register/msisdn/requestToken", "/account/password/msisdn/requestToken", "/account/3pid/msisdn/requestToken"] {
            routes.client(.post, path, auth: .none, rateLimit: .emailToken) { _ in
                throw MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server does not send text messages")
            }
        }
        routes.add(.get, Self.emailSubmitPath, auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard let sid = request.query("sid"), let secret = request.query("client_secret"), let token = request.query("token"),
                let confirmed = try await storage.confirmThreePIDValidation(
                    sid: sid, clientSecret: secret, tokenHash: Authenticator.hash(token: token), now: nowMillis())
            else {
                return Self.errorPage("Link expired", "This confirmation link is unknown or has expired. Ask your app for a new email.")
                    .response(cookie: cookie)
            }
            if let next = confirmed.nextLink { return WebPage.redirect(to: next, cookie: cookie) }
            return WebPage(
                title: "Email address confirmed",
                body: "<h1 id=\"outcome\">Email address confirmed</h1><p><strong>\(WebPage.escape(confirmed.address))</strong> is confirmed. Go back to your app to continue.</p>"
            ).response(cookie: cookie)
        }
    }
}

extension UserInteractiveAuth {
    /// A validation finished for `purpose`, named by the client's `threepid_creds`.
    func validatedThreePID(_ credentials: JSON?, purpose: String) async throws -> ThreePIDValidation? {
        guard let sid = credentials?["sid"]?.stringValue, let secret = credentials?["client_secret"]?.stringValue,
            let validation = try await storage.threePIDValidation(sid: sid), validation.validatedAt != nil, validation.purpose == purpose,
            constantTimeEqual(Array(validation.clientSecret.utf8), Array(secret.utf8)), validation.expiresAt > nowMillis()
        else { return nil }
        return validation
    }
}
