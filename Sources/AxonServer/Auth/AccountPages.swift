import AxonStorage
import Foundation
import MatrixModel

/// The account page (spec "Account management"): the user's sessions, each of which can be
/// ended, and a password change.
enum AccountPages {
    static let path = "/_axon/account"
    static let actions = ["org.matrix.devices_list", "org.matrix.device_view", "org.matrix.device_delete"]
}

extension ServerContext {
    func registerAccountPageRoutes(on routes: RouteTable) {
        guard config.oauthEnabled else { return }
        routes.add(.get, AccountPages.path, auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            guard let userID = try await signedInUser(cookie) else {
                return loginPage(next: AccountPages.path + Self.queryString(request), cookie: cookie)
            }
            return try await accountPage(userID: userID, cookie: cookie, focus: request.query("device_id"), notice: nil)
        }
        routes.add(.post, AccountPages.path + "/sessions/end", auth: .none, rateLimit: .webPage) { request in
            let cookie = browserCookie(request)
            let fields = try request.formFields()
            guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
            guard let userID = try await signedInUser(cookie) else { return loginPage(next: AccountPages.path, cookie: cookie) }
            guard let deviceID = fields["device_id"] else { throw MatrixError.missingParam("Missing 'device_id'") }
            try await endSession(userID: userID, deviceID: deviceID)
            return try await accountPage(userID: userID, cookie: cookie, focus: nil, notice: "The session \(deviceID) has been signed out.")
        }
        routes.add(.post, AccountPages.path + "/password", auth: .none, rateLimit: .login) { request in
            let cookie = browserCookie(request)
            let fields = try request.formFields()
            guard cookie.acceptsForm(fields) else { return Self.forgedForm(cookie) }
            guard let userID = try await signedInUser(cookie) else { return loginPage(next: AccountPages.path, cookie: cookie) }
            let account = try await storage.account(userID: userID)
            guard try await accounts.verifyPassword(fields["current"] ?? "", account: account) else {
                return try await accountPage(userID: userID, cookie: cookie, focus: nil, notice: "The current password is wrong.")
            }
            let new = fields["new"] ?? ""
            guard !new.isEmpty, new == fields["confirm"] else {
                return try await accountPage(userID: userID, cookie: cookie, focus: nil, notice: "The new passwords do not match.")
            }
            try await storage.setPasswordHash(userID: userID, hash: try await accounts.hashPassword(new))
            return try await accountPage(userID: userID, cookie: cookie, focus: nil, notice: "Your password has been changed.")
        }
    }

    /// The deep link's `action` and `device_id` survive signing in.
    static func queryString(_ request: MatrixRequest) -> String {
        let kept = ["action", "device_id"].compactMap { name in request.query(name).map { "\(name)=\(PercentEncoding.queryValue($0))" } }
        return kept.isEmpty ? "" : "?" + kept.joined(separator: "&")
    }

    private func accountPage(userID: String, cookie: BrowserCookie, focus: String?, notice: String?) async throws -> MatrixResponse {
        let clients = try await storage.oauthClientsByDevice(userID: userID)
        var names: [String: String] = [:]
        for clientID in Set(clients.values) {
            if let client = try await storage.oauthClient(id: clientID), let metadata = ClientMetadata(stored: client.metadata) {
                names[clientID] = metadata.displayName
            }
        }
        let rows = try await storage.devices(userID: userID).sorted { ($0.lastSeenAt ?? 0) > ($1.lastSeenAt ?? 0) }.map { device in
            let app = clients[device.deviceID].flatMap { names[$0] } ?? "—"
            let seen = device.lastSeenAt.map { Self.webDate($0) } ?? "—"
            let mark = device.deviceID == focus ? " class=\"focus\"" : ""
            return """
                <tr id="device-\(WebPage.escape(device.deviceID))"\(mark)><td><code>\(WebPage.escape(device.deviceID))</code></td>
                <td>\(WebPage.escape(device.displayName ?? ""))</td><td>\(WebPage.escape(app))</td><td>\(WebPage.escape(seen))</td>
                <td><form method="post" action="\(AccountPages.path)/sessions/end" class="inline">\(WebPage.hidden("csrf", cookie.csrfToken))\(WebPage.hidden("device_id", device.deviceID))
                <button type="submit" class="secondary">Sign out</button></form></td></tr>
                """
        }
        return WebPage(
            title: "Your account",
            body: """
                <h1>Your account</h1><p>Signed in as <strong id="user-id">\(WebPage.escape(userID))</strong>.</p>
                \(notice.map { "<p role=\"status\" id=\"notice\">\(WebPage.escape($0))</p>" } ?? "")
                <h2>Sessions</h2><table><tr><th>ID</th><th>Name</th><th>App</th><th>Last seen</th><th></th></tr>\(rows.joined())</table>
                <h2>Change password</h2>
                <form method="post" action="\(AccountPages.path)/password">\(WebPage.hidden("csrf", cookie.csrfToken))
                <label for="current">Current password</label><input type="password" id="current" name="current" autocomplete="current-password" required>
                <label for="new">New password</label><input type="password" id="new" name="new" autocomplete="new-password" required>
                <label for="confirm">New password again</label><input type="password" id="confirm" name="confirm" autocomplete="new-password" required>
                <button type="submit">Change password</button></form>
                <form method="post" action="/_axon/logout">\(WebPage.hidden("csrf", cookie.csrfToken))<button type="submit" class="secondary">Sign out of this page</button></form>
                """
        ).response(cookie: cookie)
    }

    static func webDate(_ millis: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) + " UTC"
    }
}
