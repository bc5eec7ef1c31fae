import AxonStorage
import MatrixModel

/// The device authorisation grant as the user sees it (spec "Device authorisation flow"):
/// the code shown by the other device is entered (or comes in the link), the user signs in
/// and approves or denies.
enum DeviceLinkPages {
    static let path = "/_axon/device"
}

extension ServerContext {
    func registerDeviceLinkRoutes(on routes: RouteTable) {
        guard config.oauthEnabled else { return }
        routes.add(.get, DeviceLinkPages.path, auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            let userCode = request.query("user_code").map(Self.normalizedUserCode)
            let here = DeviceLinkPages.path + (userCode.map { "?user_code=" + PercentEncoding.queryValue($0) } ?? "")
            guard let userID = try await signedInUser(cookie) else { return loginPage(next: here, cookie: cookie) }
            guard let userCode else { return codeEntryPage(cookie: cookie, error: nil) }
            return try await deviceConsentPage(userCode: userCode, userID: userID, cookie: cookie)
        }
        routes.add(.post, DeviceLinkPages.path, auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            let fields = try request.formFields()
            guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
            guard let userID = try await signedInUser(cookie) else { return loginPage(next: DeviceLinkPages.path, cookie: cookie) }
            let userCode = Self.normalizedUserCode(fields["user_code"] ?? "")
            guard let action = fields["action"] else { return try await deviceConsentPage(userCode: userCode, userID: userID, cookie: cookie) }
            let approved = action == "allow"
            guard try await storage.decideDeviceAuthorization(userCode: userCode, userID: userID, approved: approved, now: nowMillis()) else {
                return codeEntryPage(cookie: cookie, error: "That code is unknown, already used or expired.")
            }
            let title = approved ? "Device signed in" : "Request denied"
            let text = approved ? "You can go back to your other device now." : "The other device was not signed in."
            return WebPage(title: title, body: "<h1 id=\"outcome\">\(title)</h1><p>\(text)</p>").response(cookie: cookie)
        }
    }

    /// Codes are read back case- and dash-insensitively: `wdjb mjht` is `WDJB-MJHT`.
    static func normalizedUserCode(_ text: String) -> String {
        let letters = text.uppercased().filter { $0.isLetter }
        guard letters.count == 8 else { return text.uppercased() }
        return String(letters.prefix(4)) + "-" + String(letters.suffix(4))
    }

    private func codeEntryPage(cookie: BrowserCookie, error: String?) -> MatrixResponse {
        WebPage(
            title: "Sign in a device",
            body: """
                <h1>Sign in a device</h1>\(WebPage.notice(error))
                <form method="post" action="\(DeviceLinkPages.path)">\(WebPage.hidden("csrf", cookie.csrfToken))
                <label for="user_code">Code shown on the device</label>
                <input type="text" id="user_code" name="user_code" autocomplete="off" required autofocus>
                <button type="submit">Continue</button></form>
                """, status: error == nil ? .ok : .badRequest
        ).response(cookie: cookie)
    }

    private func deviceConsentPage(userCode: String, userID: String, cookie: BrowserCookie) async throws -> MatrixResponse {
        guard let authorization = try await storage.deviceAuthorization(userCode: userCode), authorization.status == .pending,
            authorization.expiresAt > nowMillis(), let client = try await storage.oauthClient(id: authorization.clientID),
            let metadata = ClientMetadata(stored: client.metadata)
        else { return codeEntryPage(cookie: cookie, error: "That code is unknown, already used or expired.") }
        let name = WebPage.escape(metadata.displayName)
        return WebPage(
            title: "Allow \(metadata.displayName)?",
            body: """
                <h1>Allow <span id="client-name">\(name)</span> on another device?</h1>
                <p>Signed in as <strong>\(WebPage.escape(userID))</strong>. Only continue if the device shows the code
                <code>\(WebPage.escape(userCode))</code> and you started this yourself.</p>
                <p>\(name) will be able to use your whole account as the session <code>\(WebPage.escape(authorization.deviceID))</code>.</p>
                <form method="post" action="\(DeviceLinkPages.path)">\(WebPage.hidden("csrf", cookie.csrfToken))\(WebPage.hidden("user_code", userCode))
                <button type="submit" name="action" value="allow" id="allow">Allow</button>
                <button type="submit" name="action" value="deny" class="secondary" id="deny">Deny</button></form>
                """
        ).response(cookie: cookie)
    }
}
