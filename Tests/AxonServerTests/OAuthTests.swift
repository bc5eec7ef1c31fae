@testable import AxonServer
import Foundation
import MatrixModel
import Testing

@Suite struct OAuthScopeAndMetadataTests {
    @Test func scopesNeedAPIAccessAndExactlyOneDevice() throws {
        let scope = try OAuthScope.parse("urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ openid")
        #expect(scope.deviceID == "ABCDEFGHIJ")
        #expect(scope.text == "urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ")
        let both = try OAuthScope.parse(
            "urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:DEV1 urn:matrix:client:device:DEV1")
        #expect(both.deviceID == "DEV1")
        #expect(throws: OAuthScope.Failure.missingAPIAccess) { try OAuthScope.parse("urn:matrix:client:device:DEV1") }
        #expect(throws: OAuthScope.Failure.deviceCount(0)) { try OAuthScope.parse("urn:matrix:client:api:*") }
        #expect(throws: OAuthScope.Failure.deviceCount(2)) {
            try OAuthScope.parse("urn:matrix:client:api:* urn:matrix:client:device:A urn:matrix:client:device:B")
        }
        #expect(throws: OAuthScope.Failure.badDeviceID("A/B")) { try OAuthScope.parse("urn:matrix:client:api:* urn:matrix:client:device:A/B") }
        #expect(throws: OAuthScope.Failure.malformed("urn:matrix:client:device:\"x")) {
            try OAuthScope.parse("urn:matrix:client:api:* urn:matrix:client:device:\"x")
        }
    }

    func metadata(_ changes: JSONObject) -> JSON {
        var object: JSONObject = [
            "client_uri": "https://example.com/", "redirect_uris": ["https://app.example.com/callback"], "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
        ]
        for (key, value) in changes { object[key] = value }
        return .object(object)
    }

    @Test func registrationMetadataIsCheckedAsTheSpecSays() throws {
        let web = try ClientMetadata.validate(metadata(["logo_uri": "https://cdn.example.com/logo.png", "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"]]))
        #expect(web.grantTypes == ["authorization_code", "refresh_token"])
        for uri in ["com.example.app:/callback", "com.example:/", "com.example:callback", "http://localhost/callback", "http://127.0.0.1/callback", "http://[::1]/callback"] {
            #expect(throws: Never.self, "\(uri)") { try ClientMetadata.validate(metadata(["application_type": "native", "redirect_uris": [.string(uri)]])) }
        }
        for uri in ["example:/callback", "com.example.app://callback", "https://localhost/callback", "http://localhost:1234/callback", "https://example.com/callback#fragment", "https://app.com/callback"] {
            #expect(throws: ClientMetadata.Invalid.self, "\(uri)") {
                try ClientMetadata.validate(metadata(["application_type": "native", "redirect_uris": [.string(uri)]]))
            }
        }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["redirect_uris": ["http://example.com/callback"]])) }
        #expect(throws: ClientMetadata.Invalid.self) {
            try ClientMetadata.validate(metadata(["client_uri": "https://javascript/", "application_type": "native", "redirect_uris": ["javascript:alert(1)"]]))
        }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["client_uri": "http://example.com/"])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["client_uri": "https://user:pw@example.com/"])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["client_uri": .null])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["logo_uri": "https://evil.org/logo.png"])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["tos_uri": "http://example.com/tos"])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["token_endpoint_auth_method": "client_secret_basic"])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["grant_types": ["authorization_code"]])) }
        #expect(throws: ClientMetadata.Invalid.self) { try ClientMetadata.validate(metadata(["redirect_uris": []])) }
        let device = try ClientMetadata.validate(metadata(["grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"], "redirect_uris": .null]))
        #expect(device.redirectURIs.isEmpty)
        let loopback = try ClientMetadata.validate(metadata(["application_type": "native", "redirect_uris": ["http://localhost/cb"]]))
        #expect(loopback.allowsRedirect("http://localhost:43123/cb"))
        #expect(!loopback.allowsRedirect("http://localhost:43123/other"))
    }

    @Test func pkceIsS256WithAVerifierOfTheRightShape() {
        // RFC 7636 appendix B.
        #expect(ServerContext.pkceMatches(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!ServerContext.pkceMatches(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!ServerContext.pkceMatches(verifier: "short", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
    }
}

@Suite struct OAuthFlowTests {
    @Test func metadataNamesEveryEndpoint() async throws {
        try await TestServer.run { server in
            let metadata = try await server.call(.get, "/_matrix/client/v1/auth_metadata").json
            #expect(metadata["issuer"] == "http://localhost:8008/")
            #expect(metadata["authorization_endpoint"] == "http://localhost:8008/_axon/oauth2/authorize")
            #expect(metadata["code_challenge_methods_supported"] == ["S256"])
            #expect(metadata["prompt_values_supported"] == ["create"])
            #expect(metadata["grant_types_supported"]?.arrayValue?.contains("urn:ietf:params:oauth:grant-type:device_code") == true)
            #expect(metadata["account_management_uri"] == "http://localhost:8008/_axon/account")
            #expect(try await server.call(.get, "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata").json == metadata)
            let bad = try await server.call(.post, "/_axon/oauth2/registration", json: ["client_uri": "http://example.com/"])
            #expect(bad.status == 400)
            #expect(bad.json["error"] == "invalid_client_metadata")
        }
        try await TestServer.run(configure: { $0.oauthEnabled = false }) { server in
            let reply = try await server.call(.get, "/_matrix/client/v1/auth_metadata")
            #expect(reply.errcode == "M_UNRECOGNIZED")
        }
    }

    @Test func theAuthorizationCodeGrantEndsInATokenThatWorksEverywhere() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let client = try await TestOAuthClient.register(server)
            let browser = TestBrowser(server)
            // The first page is the sign-in form, with a cookie and a strict policy.
            let start = try await browser.get(client.authorizePath(device: "OAUTHDEV01"))
            let login = try await browser.get(try #require(start.headers[.location]))
            #expect(login.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(start.headers[.setCookie]?.contains("HttpOnly") == true)
            #expect(login.status == 200)
            let code = try await client.authorize(browser, user: "alice", device: "OAUTHDEV01")
            let tokens = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", client.verifier),
            ])
            #expect(tokens.status == 200, "\(tokens.raw)")
            #expect(tokens.json["token_type"] == "Bearer")
            #expect(tokens.json["expires_in"] == 300)
            #expect(tokens.json["scope"] == "urn:matrix:client:api:* urn:matrix:client:device:OAUTHDEV01")
            let access = try #require(tokens.json["access_token"]?.stringValue)
            let me = try await server.call(.get, "/_matrix/client/v3/account/whoami", token: access)
            #expect(me.json["user_id"] == "@alice:localhost")
            #expect(me.json["device_id"] == "OAUTHDEV01")
            #expect(try await server.call(.get, "/_matrix/client/v3/sync?timeout=0", token: access).status == 200)
            let devices = try await server.call(.get, "/_matrix/client/v3/devices", token: access).json["devices"]?.arrayValue ?? []
            #expect(devices.contains { $0["device_id"] == "OAUTHDEV01" && $0["display_name"] == "Test Client" })
            // Refresh rotates; the old refresh token is refused to another client.
            let refreshed = try await client.token(server, [("grant_type", "refresh_token"), ("refresh_token", tokens.json["refresh_token"]!.stringValue!)])
            #expect(refreshed.status == 200, "\(refreshed.raw)")
            #expect(refreshed.json["scope"] == tokens.json["scope"])
            let newAccess = try #require(refreshed.json["access_token"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: newAccess).status == 200)
            let other = try await TestOAuthClient.register(server)
            let stolen = try await other.token(server, [("grant_type", "refresh_token"), ("refresh_token", refreshed.json["refresh_token"]!.stringValue!)])
            #expect(stolen.json["error"] == "invalid_grant")
            // The legacy /refresh does not take OAuth refresh tokens either.
            #expect(try await server.call(.post, "/_matrix/client/v3/refresh", json: ["refresh_token": refreshed.json["refresh_token"]!]).status == 401)
            // Revocation ends the session: both tokens, and the device.
            let revoked = try await server.call(
                .post, "/_axon/oauth2/revoke", body: TestBrowser.encode([("token", newAccess), ("token_type_hint", "access_token"), ("client_id", client.id)]),
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(revoked.status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: newAccess).errcode == "M_UNKNOWN_TOKEN")
            let again = try await client.token(server, [("grant_type", "refresh_token"), ("refresh_token", refreshed.json["refresh_token"]!.stringValue!)])
            #expect(again.json["error"] == "invalid_grant")
            let unknown = try await server.call(
                .post, "/_axon/oauth2/revoke", body: "token=nothing-like-a-token", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(unknown.status == 200)
        }
    }

    @Test func aReplacedOAuthRefreshTokenComingBackEndsTheSession() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let client = try await TestOAuthClient.register(server)
            let code = try await client.authorize(TestBrowser(server), user: "alice", device: "REUSE1")
            let first = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", client.verifier),
            ])
            let original = try #require(first.json["refresh_token"]?.stringValue)
            let second = try await client.token(server, [("grant_type", "refresh_token"), ("refresh_token", original)])
            let access = try #require(second.json["access_token"]?.stringValue)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: access).status == 200)
            let reused = try await client.token(server, [("grant_type", "refresh_token"), ("refresh_token", original)])
            #expect(reused.status == 400)
            #expect(reused.json["error"] == "invalid_grant")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: access).errcode == "M_UNKNOWN_TOKEN")
            let after = try await client.token(server, [("grant_type", "refresh_token"), ("refresh_token", second.json["refresh_token"]!.stringValue!)])
            #expect(after.json["error"] == "invalid_grant")
        }
    }

    @Test func refusalsOfTheTokenEndpoint() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let client = try await TestOAuthClient.register(server)
            let browser = TestBrowser(server)
            let code = try await client.authorize(browser, user: "alice", device: "DEV2")
            let badVerifier = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", String(repeating: "y", count: 50)),
            ])
            #expect(badVerifier.status == 400)
            #expect(badVerifier.json["error"] == "invalid_grant")
            // The failed attempt spent the code; a second use of a code ends what it gave.
            let reused = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", client.verifier),
            ])
            #expect(reused.json["error"] == "invalid_grant")
            let second = try await client.authorize(browser, user: "alice", device: "DEV3")
            let wrongRedirect = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", second), ("redirect_uri", "http://localhost/other"), ("code_verifier", client.verifier),
            ])
            #expect(wrongRedirect.json["error"] == "invalid_grant")
            let third = try await client.authorize(browser, user: "alice", device: "DEV4")
            let good = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", third), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", client.verifier),
            ])
            let access = try #require(good.json["access_token"]?.stringValue)
            let replay = try await client.token(server, [
                ("grant_type", "authorization_code"), ("code", third), ("redirect_uri", TestOAuthClient.redirect), ("code_verifier", client.verifier),
            ])
            #expect(replay.json["error"] == "invalid_grant")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: access).errcode == "M_UNKNOWN_TOKEN")
            #expect(try await client.token(server, [("grant_type", "password")]).json["error"] == "unauthorized_client")
            let noClient = try await server.call(
                .post, "/_axon/oauth2/token", body: "grant_type=authorization_code", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(noClient.status == 401)
            #expect(noClient.json["error"] == "invalid_client")
        }
    }

    @Test func theAuthorizeEndpointRefusesWhatTheSpecForbids() async throws {
        try await TestServer.run { server in
            let client = try await TestOAuthClient.register(server)
            let browser = TestBrowser(server)
            // Problems with the client or its redirect URI are shown, never redirected.
            let unknown = try await browser.get("/_axon/oauth2/authorize?client_id=nobody&redirect_uri=http://localhost/callback")
            #expect(unknown.status == 400)
            #expect(unknown.headers[.location] == nil)
            let foreign = try await browser.get(client.authorizePath(device: "D").replacingOccurrences(of: "callback", with: "elsewhere"))
            #expect(foreign.status == 400)
            #expect(foreign.headers[.location] == nil)
            // Later ones go back to the client, with the state.
            let plain = try await browser.get(client.authorizePath(device: "D").replacingOccurrences(of: "S256", with: "plain"))
            #expect(TestOAuthClient.callbackParameters(plain)["error"] == "invalid_request")
            #expect(TestOAuthClient.callbackParameters(plain)["state"] == "st4te")
            let noDevice = try await browser.get(client.authorizePath(device: "A%20urn%3Amatrix%3Aclient%3Adevice%3AB"))
            #expect(TestOAuthClient.callbackParameters(noDevice)["error"] == "invalid_scope")
            let token = try await browser.get(client.authorizePath(device: "D").replacingOccurrences(of: "response_type=code", with: "response_type=token"))
            #expect(TestOAuthClient.callbackParameters(token)["error"] == "unsupported_response_type")
            let fragment = try await browser.get(client.authorizePath(device: "D", extra: "&response_mode=fragment").replacingOccurrences(of: "S256", with: "plain"))
            #expect(fragment.headers[.location]?.hasPrefix(TestOAuthClient.redirect + "#") == true)
        }
    }

    @Test func denyingAndForgedFormsAndSigningUp() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let client = try await TestOAuthClient.register(server)
            let browser = TestBrowser(server)
            let start = try await browser.get(client.authorizePath(device: "DEVX"))
            let pagePath = try #require(start.headers[.location])
            let login = try await browser.get(pagePath)
            // A form without the page's token (another site's) is refused.
            let forged = try await browser.post("/_axon/login", [("username", "alice"), ("password", "correct horse"), ("next", pagePath)])
            #expect(forged.status == 403)
            let wrong = try await browser.submit(login, to: "/_axon/login", [("username", "alice"), ("password", "nope")])
            #expect(wrong.status == 401)
            #expect(wrong.raw.contains("Wrong username or password"))
            let signedIn = try await browser.submit(login, to: "/_axon/login", [("username", "alice"), ("password", "correct horse")])
            let consent = try await browser.get(try #require(signedIn.headers[.location]))
            #expect(consent.raw.contains("Test Client"))
            #expect(consent.headers[.contentSecurityPolicy]?.contains("form-action 'self' http://localhost") == true)
            let denied = try await browser.submit(consent, to: pagePath, [("action", "deny")])
            #expect(TestOAuthClient.callbackParameters(denied)["error"] == "access_denied")
            // The request was answered once; it is gone.
            #expect(try await browser.get(pagePath).status == 404)

            // prompt=create shows the sign-up form, which makes the account and signs it in.
            let fresh = TestBrowser(server)
            let create = try await fresh.get(client.authorizePath(device: "DEVNEW", extra: "&prompt=create"))
            let createPath = try #require(create.headers[.location])
            let signUp = try await fresh.get(createPath)
            #expect(signUp.raw.contains("action=\"/_axon/register\""))
            let mismatch = try await fresh.submit(signUp, to: "/_axon/register", [("username", "carol"), ("password", "pw one"), ("confirm", "pw two")])
            #expect(mismatch.status == 400)
            let taken = try await fresh.submit(signUp, to: "/_axon/register", [("username", "alice"), ("password", "pw"), ("confirm", "pw")])
            #expect(taken.status == 400)
            #expect(taken.raw.contains("already taken"))
            let made = try await fresh.submit(signUp, to: "/_axon/register", [("username", "carol"), ("password", "pw one"), ("confirm", "pw one")])
            #expect(made.status == 303)
            let carolConsent = try await fresh.get(try #require(made.headers[.location]))
            #expect(carolConsent.raw.contains("@carol:localhost"))
            #expect(try await server.login("carol", password: "pw one").status == 200)
        }
    }

    @Test func theDeviceGrantPollsUntilTheUserAnswers() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice")
            let client = try await TestOAuthClient.register(server, grants: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"])
            func authorization() async throws -> TestServer.Reply {
                try await server.call(
                    .post, "/_axon/oauth2/device",
                    body: TestBrowser.encode([("client_id", client.id), ("scope", "urn:matrix:client:api:* urn:matrix:client:device:TVDEVICE")]),
                    headers: [.contentType: "application/x-www-form-urlencoded"])
            }
            let started = try await authorization()
            #expect(started.status == 200, "\(started.raw)")
            #expect(started.json["interval"] == 5)
            let deviceCode = try #require(started.json["device_code"]?.stringValue)
            let userCode = try #require(started.json["user_code"]?.stringValue)
            #expect(started.json["verification_uri_complete"]?.stringValue?.hasSuffix("/_axon/device?user_code=" + userCode) == true)
            let poll = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", deviceCode)]
            #expect(try await client.token(server, poll).json["error"] == "authorization_pending")
            #expect(try await client.token(server, poll).json["error"] == "slow_down")
            // The user opens the link on another device, signs in and approves.
            let browser = TestBrowser(server)
            let login = try await browser.get("/_axon/device?user_code=" + userCode.lowercased().replacingOccurrences(of: "-", with: ""))
            let signedIn = try await browser.submit(login, to: "/_axon/login", [("username", "alice"), ("password", "correct horse")])
            let consent = try await browser.get(try #require(signedIn.headers[.location]))
            #expect(consent.raw.contains("TVDEVICE"))
            let approved = try await browser.submit(consent, to: "/_axon/device", [("action", "allow")])
            #expect(approved.raw.contains("Device signed in"))
            let tokens = try await client.token(server, poll)
            #expect(tokens.status == 200, "\(tokens.raw)")
            let me = try await server.call(.get, "/_matrix/client/v3/account/whoami", token: tokens.json["access_token"]!.stringValue!)
            #expect(me.json["device_id"] == "TVDEVICE")
            #expect(try await client.token(server, poll).json["error"] == "invalid_grant")
            // A denied one.
            let other = try await authorization()
            let otherCode = try #require(other.json["user_code"]?.stringValue)
            let otherPage = try await browser.get("/_axon/device?user_code=" + otherCode)
            _ = try await browser.submit(otherPage, to: "/_axon/device", [("action", "deny")])
            #expect(try await client.token(server, [poll[0], ("device_code", other.json["device_code"]!.stringValue!)]).json["error"] == "access_denied")
        }
        try await TestServer.run(configure: { $0.tokenLifetimes.deviceCodeMs = 1 }) { server in
            let client = try await TestOAuthClient.register(server, grants: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"])
            let started = try await server.call(
                .post, "/_axon/oauth2/device",
                body: TestBrowser.encode([("client_id", client.id), ("scope", "urn:matrix:client:api:* urn:matrix:client:device:TV2")]),
                headers: [.contentType: "application/x-www-form-urlencoded"])
            try await Task.sleep(for: .milliseconds(20))
            let expired = try await client.token(server, [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", started.json["device_code"]!.stringValue!),
            ])
            #expect(expired.json["error"] == "expired_token")
        }
    }

    @Test func theAccountPageListsAndEndsSessions() async throws {
        try await TestServer.run { server in
            _ = try await server.register("alice", device: "LAPTOP")
            let browser = TestBrowser(server)
            let login = try await browser.get("/_axon/account?action=org.matrix.device_view&device_id=LAPTOP")
            let signedIn = try await browser.submit(login, to: "/_axon/login", [("username", "alice"), ("password", "correct horse")])
            #expect(signedIn.headers[.location] == "/_axon/account?action=org.matrix.device_view&device_id=LAPTOP")
            let page = try await browser.get(try #require(signedIn.headers[.location]))
            #expect(page.raw.contains("id=\"device-LAPTOP\" class=\"focus\""))
            let ended = try await browser.submit(page, to: "/_axon/account/sessions/end", [("device_id", "LAPTOP")])
            #expect(ended.raw.contains("has been signed out"))
            #expect(try await server.login("alice", device: "LAPTOP").status == 200)
            let changed = try await browser.submit(ended, to: "/_axon/account/password", [("current", "correct horse"), ("new", "new pw"), ("confirm", "new pw")])
            #expect(changed.raw.contains("Your password has been changed"))
            #expect(try await server.login("alice", password: "new pw").status == 200)
            let out = try await browser.submit(changed, to: "/_axon/logout", [])
            #expect(out.status == 303)
            #expect(try await browser.get("/_axon/account").raw.contains("action=\"/_axon/login\""))
        }
    }

    @Test func legacyPasswordLoginCanBeTurnedOff() async throws {
        try await TestServer.run(configure: { $0.passwordLoginEnabled = false }) { server in
            _ = try await server.register("alice")
            #expect(try await server.login("alice").status == 400)
            let flows = try await server.call(.get, "/_matrix/client/v3/login").json["flows"]?.arrayValue ?? []
            #expect(!flows.contains(["type": "m.login.password"]))
        }
    }
}
