import Foundation
import Crypto
import HTTPTypes
import MatrixModel

/// The authorisation server's web pages: plain server-rendered HTML, no script, a strict
/// Content-Security-Policy, and forms protected by a token derived from the browser's cookie.
struct WebPage {
    var title: String
    var body: String
    /// Where this page's forms may lead: the origins a submission may be redirected to.
    var formTargets: [String] = []
    var status: HTTPResponse.Status = .ok
    /// The one script a page may have, allowed by its hash and nothing else.
    var script: String? = nil

    static let stylesheetPath = "/_axon/static/axon.css"

    func response(cookie: BrowserCookie?) -> MatrixResponse {
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(Self.escape(title))</title><link rel="stylesheet" href="\(Self.stylesheetPath)"></head>
            <body><main>\(body)</main>\(script.map { "<script>\($0)</script>" } ?? "")</body></html>
            """
        var response = MatrixResponse(status: status, bytes: Array(html.utf8), contentType: "text/html; charset=utf-8")
        response.headers = Self.securityHeaders(formTargets: formTargets, script: script)
        if let cookie, cookie.isNew { response.headers[.setCookie] = cookie.setCookieHeader }
        return response
    }

    static func securityHeaders(formTargets: [String] = [], script: String? = nil) -> HTTPFields {
        let formAction = (["'self'"] + formTargets).joined(separator: " ")
        let scripts = script.map { "; script-src 'sha256-\(Data(SHA256.hash(data: Array($0.utf8))).base64EncodedString())'" } ?? ""
        return [
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action \(formAction); frame-ancestors 'none'; base-uri 'none'\(scripts)",
            HTTPField.Name("X-Frame-Options")!: "DENY",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-store",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        ]
    }

    /// A 303 to another page (after a form), or a 302 where a GET is sent on (the spec's
    /// answer of `/login/sso/redirect`).
    static func redirect(to location: String, cookie: BrowserCookie?, status: HTTPResponse.Status = .seeOther) -> MatrixResponse {
        var response = MatrixResponse(status: status, bytes: [], contentType: "text/plain")
        response.headers = securityHeaders()
        response.headers[.location] = location
        if let cookie, cookie.isNew { response.headers[.setCookie] = cookie.setCookieHeader }
        return response
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func hidden(_ name: String, _ value: String) -> String {
        "<input type=\"hidden\" name=\"\(escape(name))\" value=\"\(escape(value))\">"
    }

    static func notice(_ message: String?) -> String {
        guard let message else { return "" }
        return "<p class=\"error\" role=\"alert\">\(escape(message))</p>"
    }

    static let stylesheet = """
        body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#17191c;margin:0}
        main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px #0002}
        h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
        input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #c4c9cf;border-radius:6px;font-size:1rem}
        button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#0b7a5c;color:#fff;font-size:1rem;cursor:pointer}
        button.secondary,a.button.secondary{background:#e3e6e9;color:#17191c}
        a.button{display:inline-block;margin-top:.6rem;padding:.6rem 1.2rem;border-radius:6px;background:#0b7a5c;color:#fff;text-decoration:none}.error{color:#b3261e;font-weight:600}.muted{color:#5c6470;font-size:.9rem}
        img.logo{max-width:64px;max-height:64px;float:right}table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #e3e6e9}
        form.inline{display:inline}code{background:#eef0f2;padding:.1rem .3rem;border-radius:4px}
        """
}

/// The browser's cookie: a random value that names its web session (by hash) and from which
/// the forms' anti-forgery token is derived. Another site can neither read it nor compute the
/// token, so a form posted from elsewhere fails its check.
struct BrowserCookie {
    static let name = "axon_browser"
    let value: String
    /// Made for this response: it is sent with `Set-Cookie`.
    let isNew: Bool
    let secure: Bool

    static func from(_ request: MatrixRequest, secure: Bool) -> BrowserCookie {
        if let existing = request.cookie(name), existing.utf8.count >= 32 {
            return BrowserCookie(value: existing, isNew: false, secure: secure)
        }
        return fresh(secure: secure)
    }

    static func fresh(secure: Bool) -> BrowserCookie {
        BrowserCookie(value: UnpaddedBase64.encode(RandomString.bytes(32), urlSafe: true), isNew: true, secure: secure)
    }

    var sessionHash: String { Authenticator.hash(token: "session:" + value) }
    var csrfToken: String { Authenticator.hash(token: "csrf:" + value) }

    func acceptsForm(_ fields: [String: String]) -> Bool {
        guard !isNew, let token = fields["csrf"] else { return false }
        return constantTimeEqual(Array(token.utf8), Array(csrfToken.utf8))
    }

    var setCookieHeader: String {
        "\(Self.name)=\(value); Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000" + (secure ? "; Secure" : "")
    }
}

extension MatrixRequest {
    func cookie(_ name: String) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// An `application/x-www-form-urlencoded` body (OAuth endpoints and the pages' forms).
    func formFields() throws(MatrixError) -> [String: String] {
        let text = String(decoding: body.readableBytesView, as: UTF8.self)
        guard let parsed = PercentDecoding.parseQuery(Substring(text)) else { throw MatrixError.invalidParam("Malformed form body") }
        return parsed.compactMapValues(\.last)
    }
}
