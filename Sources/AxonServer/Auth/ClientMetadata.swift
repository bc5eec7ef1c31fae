import Foundation
import MatrixModel

/// Dynamic client registration metadata (RFC 7591 as the spec profiles it, "Client
/// registration"): what a client says about itself, checked before it gets a `client_id`.
struct ClientMetadata: Equatable, Sendable {
    static let authorizationCode = "authorization_code"
    static let refreshToken = "refresh_token"
    static let deviceCode = "urn:ietf:params:oauth:grant-type:device_code"

    var clientName: String?
    var clientURI: String
    var logoURI: String?
    var tosURI: String?
    var policyURI: String?
    var redirectURIs: [String]
    var grantTypes: [String]
    var applicationType: String

    struct Invalid: Error, Equatable {
        /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).
        let error: String
        let description: String
    }

    static func metadataError(_ text: String) -> Invalid { Invalid(error: "invalid_client_metadata", description: text) }
    static func redirectError(_ text: String) -> Invalid { Invalid(error: "invalid_redirect_uri", description: text) }

    static func validate(_ json: JSON) throws(Invalid) -> ClientMetadata {
        guard case .object = json else { throw metadataError("The body must be a JSON object") }
        func string(_ key: String) throws(Invalid) -> String? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let text = value.stringValue else { throw metadataError("'\(key)' must be a string") }
            return text
        }
        func strings(_ key: String) throws(Invalid) -> [String]? {
            guard let value = json[key], !value.isNull else { return nil }
            let texts = value.arrayValue?.compactMap(\.stringValue)
            guard let texts, texts.count == value.arrayValue?.count else { throw metadataError("'\(key)' must be an array of strings") }
            return texts
        }
        guard let clientURI = try string("client_uri") else { throw metadataError("'client_uri' is required") }
        guard let client = URLComponents(string: clientURI), client.scheme == "https", let clientHost = client.host?.lowercased(),
            !clientHost.isEmpty, client.user == nil, client.password == nil
        else { throw metadataError("'client_uri' must be an https URL without user or password") }
        let applicationType = try string("application_type") ?? "web"
        guard applicationType == "web" || applicationType == "native" else {
            throw metadataError("'application_type' must be 'web' or 'native'")
        }
        let authMethod = try string("token_endpoint_auth_method") ?? "none"
        guard authMethod == "none" else { throw metadataError("Only public clients ('token_endpoint_auth_method': 'none') are supported") }
        // Grants and response types the server does not know are ignored (RFC 7591 §2).
        let known = [authorizationCode, refreshToken, deviceCode]
        let grantTypes = (try strings("grant_types") ?? [authorizationCode]).filter(known.contains).reduce(into: [String]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        guard grantTypes.contains(authorizationCode) || grantTypes.contains(deviceCode) else {
            throw metadataError("'grant_types' must include authorization_code or \(deviceCode)")
        }
        guard grantTypes.contains(refreshToken) else { throw metadataError("'grant_types' must include refresh_token") }
        var metadata = ClientMetadata(
            clientName: try string("client_name"), clientURI: clientURI, redirectURIs: [], grantTypes: grantTypes,
            applicationType: applicationType)
        for (key, path) in [("logo_uri", \ClientMetadata.logoURI), ("tos_uri", \.tosURI), ("policy_uri", \.policyURI)] {
            guard let uri = try string(key) else { continue }
            guard let parsed = URLComponents(string: uri), parsed.scheme == "https", parsed.user == nil, parsed.password == nil,
                let host = parsed.host?.lowercased(), Self.isUnder(host, clientHost)
            else { throw metadataError("'\(key)' must be an https URL on the host of client_uri or below it") }
            metadata[keyPath: path] = uri
        }
        let redirects = try strings("redirect_uris") ?? []
        if grantTypes.contains(authorizationCode) {
            guard try strings("response_types").map({ $0.contains("code") }) ?? true else {
                throw metadataError("'response_types' must include 'code'")
            }
            guard !redirects.isEmpty else { throw redirectError("'redirect_uris' needs at least one URI for the authorization code grant") }
        }
        for redirect in redirects {
            try checkRedirect(redirect, clientHost: clientHost, native: applicationType == "native")
        }
        metadata.redirectURIs = redirects
        return metadata
    }

    /// Spec "Redirect URI validation": https under the client's host for web clients (and
    /// claimed https URIs of native ones); for native clients also a private-use scheme in
    /// the reverse-DNS of that host without an authority, or http on loopback without a port.
    static func checkRedirect(_ uri: String, clientHost: String, native: Bool) throws(Invalid) {
        guard let parsed = URLComponents(string: uri), let scheme = parsed.scheme?.lowercased() else {
            throw redirectError("'\(uri)' is not a URI")
        }
        guard parsed.fragment == nil else { throw redirectError("'\(uri)' may not have a fragment") }
        if scheme == "https" {
            guard parsed.user == nil, parsed.password == nil, let host = parsed.host?.lowercased(), isUnder(host, clientHost) else {
                throw redirectError("'\(uri)' must be on the host of client_uri or below it, without user or password")
            }
            return
        }
        guard native else { throw redirectError("'\(uri)': web clients must use https") }
        if scheme == "http" {
            guard let host = parsed.host?.lowercased(), ["localhost", "127.0.0.1", "[::1]", "::1"].contains(host), parsed.port == nil,
                parsed.user == nil
            else { throw redirectError("'\(uri)': http is only for loopback addresses, without a port") }
            return
        }
        let reversed = clientHost.split(separator: ".").reversed().joined(separator: ".")
        // RFC 8252 §7.1: a reverse domain name, so with a period (never `javascript:`).
        guard scheme.contains("."), scheme == reversed || scheme.hasPrefix(reversed + ".") else {
            throw redirectError("'\(uri)': a private-use scheme must start with \(reversed)")
        }
        guard !uri.dropFirst(scheme.count + 1).hasPrefix("//") else {
            throw redirectError("'\(uri)': a private-use URI may not have an authority (use \(scheme):/path)")
        }
    }

    static func isUnder(_ host: String, _ base: String) -> Bool {
        host == base || host.hasSuffix("." + base)
    }

    /// Whether an authorisation request's `redirect_uri` is one of the registered ones; a
    /// loopback one matches on any port (RFC 8252 §7.3).
    func allowsRedirect(_ uri: String) -> Bool {
        if redirectURIs.contains(uri) { return true }
        guard var requested = URLComponents(string: uri), requested.scheme == "http", requested.port != nil,
            ["localhost", "127.0.0.1", "[::1]", "::1"].contains(requested.host ?? "")
        else { return false }
        requested.port = nil
        return requested.string.map(redirectURIs.contains) ?? false
    }

    /// The registration answer, which is also what is stored.
    func json(clientID: String, issuedAt: Int64) -> JSON {
        var object: JSONObject = [
            "client_id": .string(clientID), "client_id_issued_at": .int(issuedAt / 1000), "client_uri": .string(clientURI),
            "redirect_uris": .array(redirectURIs.map(JSON.string)), "grant_types": .array(grantTypes.map(JSON.string)),
            "response_types": grantTypes.contains(Self.authorizationCode) ? ["code"] : [], "token_endpoint_auth_method": "none",
            "application_type": .string(applicationType),
        ]
        if let clientName { object["client_name"] = .string(clientName) }
        if let logoURI { object["logo_uri"] = .string(logoURI) }
        if let tosURI { object["tos_uri"] = .string(tosURI) }
        if let policyURI { object["policy_uri"] = .string(policyURI) }
        return .object(object)
    }

    /// Reads back what `json` stored.
    init?(stored: JSON) {
        guard let clientURI = stored["client_uri"]?.stringValue else { return nil }
        self.clientURI = clientURI
        clientName = stored["client_name"]?.stringValue
        logoURI = stored["logo_uri"]?.stringValue
        tosURI = stored["tos_uri"]?.stringValue
        policyURI = stored["policy_uri"]?.stringValue
        redirectURIs = stored["redirect_uris"]?.arrayValue?.compactMap(\.stringValue) ?? []
        grantTypes = stored["grant_types"]?.arrayValue?.compactMap(\.stringValue) ?? []
        applicationType = stored["application_type"]?.stringValue ?? "web"
    }

    private init(
        clientName: String?, clientURI: String, redirectURIs: [String], grantTypes: [String], applicationType: String
    ) {
        self.clientName = clientName
        self.clientURI = clientURI
        self.redirectURIs = redirectURIs
        self.grantTypes = grantTypes
        self.applicationType = applicationType
    }

    var displayName: String { clientName ?? URLComponents(string: clientURI)?.host ?? clientURI }
}
