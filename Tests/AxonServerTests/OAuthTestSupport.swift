@testable import AxonServer
import Crypto
import Foundation
import HTTPTypes
import MatrixModel
import Testing

/// A browser for the sign-in pages: it keeps the cookie the server sets and fills in the
/// forms' anti-forgery token from the page, as a real one would.
final class TestBrowser: @unchecked Sendable {
    let server: TestServer
    var cookie: String?

    init(_ server: TestServer) { self.server = server }

    func get(_ path: String) async throws -> TestServer.Reply {
        remember(try await server.call(.get, path, headers: headers()))
    }

    func post(_ path: String, _ fields: [(String, String)]) async throws -> TestServer.Reply {
        var headers = headers()
        headers[.contentType] = "application/x-www-form-urlencoded"
        return remember(try await server.call(.post, path, body: TestBrowser.encode(fields), headers: headers))
    }

    /// Submits the page's first form whose action is `action`, with its anti-forgery token.
    func submit(_ page: TestServer.Reply, to action: String, _ fields: [(String, String)]) async throws -> TestServer.Reply {
        try await post(action, [("csrf", TestBrowser.csrf(page.raw) ?? "")] + TestBrowser.hiddenFields(page.raw, except: ["csrf"]) + fields)
    }

    static func csrf(_ html: String) -> String? { hiddenFields(html, except: []).first { $0.0 == "csrf" }?.1 }

    static func hiddenFields(_ html: String, except: Set<String>) -> [(String, String)] {
        let pattern = try! NSRegularExpression(pattern: "<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\">")
        var seen: Set<String> = []
        return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap { match in
            let name = String(html[Range(match.range(at: 1), in: html)!])
            let value = String(html[Range(match.range(at: 2), in: html)!]).replacingOccurrences(of: "&amp;", with: "&")
            guard !except.contains(name), seen.insert(name).inserted else { return nil }
            return (name, value)
        }
    }

    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(PercentEncoding.queryValue($0.0))=\(PercentEncoding.queryValue($0.1))" }.joined(separator: "&")
    }

    private func headers() -> HTTPFields {
        var headers = HTTPFields()
        if let cookie { headers[.cookie] = "\(BrowserCookie.name)=\(cookie)" }
        return headers
    }

    private func remember(_ reply: TestServer.Reply) -> TestServer.Reply {
        if let set = reply.headers[.setCookie], let value = set.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last {
            cookie = String(value)
        }
        return reply
    }
}

/// A public client as the tests register it.
struct TestOAuthClient {
    static let redirect = "http://localhost/callback"
    let id: String
    let verifier = "verifier-" + String(repeating: "x", count: 40)
    var challenge: String { UnpaddedBase64.encode(Array(SHA256.hash(data: Array(verifier.utf8))), urlSafe: true) }

    static func register(_ server: TestServer, grants: [String] = ["authorization_code", "refresh_token"]) async throws -> TestOAuthClient {
        let reply = try await server.call(
            .post, "/_axon/oauth2/registration",
            json: [
                "client_name": "Test Client", "client_uri": "https://client.example.org/", "redirect_uris": [.string(redirect)],
                "application_type": "native", "token_endpoint_auth_method": "none", "grant_types": .array(grants.map(JSON.string)),
                "response_types": ["code"],
            ])
        try #require(reply.status == 201, "\(reply.raw)")
        return TestOAuthClient(id: try #require(reply.json["client_id"]?.stringValue))
    }

    func authorizePath(device: String, state: String = "st4te", extra: String = "") -> String {
        let scope = PercentEncoding.queryValue("urn:matrix:client:api:* urn:matrix:client:device:\(device)")
        return "/_axon/oauth2/authorize?response_type=code&client_id=\(id)&redirect_uri=\(PercentEncoding.queryValue(Self.redirect))"
            + "&scope=\(scope)&state=\(state)&code_challenge=\(challenge)&code_challenge_method=S256\(extra)"
    }

    /// The query parameters of where the browser was sent back to.
    static func callbackParameters(_ reply: TestServer.Reply) -> [String: String] {
        guard let location = reply.headers[.location], let components = URLComponents(string: location.replacingOccurrences(of: "#", with: "?"))
        else { return [:] }
        return Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
    }

    func token(_ server: TestServer, _ fields: [(String, String)]) async throws -> TestServer.Reply {
        try await server.call(
            .post, "/_axon/oauth2/token", body: TestBrowser.encode([("client_id", id)] + fields),
            headers: [.contentType: "application/x-www-form-urlencoded"])
    }

    /// Signs `user` in through the pages, consents, and returns the code.
    func authorize(_ browser: TestBrowser, user: String, device: String) async throws -> String {
        let start = try await browser.get(authorizePath(device: device))
        try #require(start.status == 302, "\(start.raw)")
        let pagePath = try #require(start.headers[.location])
        var page = try await browser.get(pagePath)
        if page.raw.contains("action=\"/_axon/login\"") {
            let signedIn = try await browser.submit(page, to: "/_axon/login", [("username", user), ("password", "correct horse")])
            try #require(signedIn.status == 303, "\(signedIn.raw)")
            page = try await browser.get(try #require(signedIn.headers[.location]))
        }
        let answer = try await browser.submit(page, to: pagePath, [("action", "allow")])
        let parameters = Self.callbackParameters(answer)
        #expect(parameters["state"] == "st4te")
        return try #require(parameters["code"], "\(answer.headers)")
    }
}
