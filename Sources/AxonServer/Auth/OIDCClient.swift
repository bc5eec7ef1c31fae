import AsyncHTTPClient
import Foundation
import MatrixModel
import NIOCore
import Synchronization

/// Talks to upstream OpenID Connect providers: discovery, the code exchange, the ID token's
/// claims and userinfo. Their addresses come from the admin's config and the provider's own
/// discovery document, never from a user; redirects are not followed.
final class OIDCClient: Sendable {
    struct Endpoints: Sendable {
        var authorization: String
        var token: String
        var userinfo: String?
    }

    struct Failure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    let providers: [OIDCProviderConfig]
    private let outboundEnabled: Bool
    private let discovered = Mutex<[String: Endpoints]>([:])

    init(providers: [OIDCProviderConfig], outboundEnabled: Bool) {
        self.providers = providers
        self.outboundEnabled = outboundEnabled
    }

    func provider(_ id: String) -> OIDCProviderConfig? { providers.first { $0.id == id } }

    func endpoints(_ provider: OIDCProviderConfig) async throws -> Endpoints {
        if let authorization = provider.authorizationEndpoint, let token = provider.tokenEndpoint {
            return Endpoints(authorization: authorization, token: token, userinfo: provider.userinfoEndpoint)
        }
        if let known = discovered.withLock({ $0[provider.id] }) { return known }
        let base = provider.issuer.hasSuffix("/") ? String(provider.issuer.dropLast()) : provider.issuer
        let document = try await send(base + "/.well-known/openid-configuration", provider: provider, body: nil, bearer: nil)
        // OpenID Connect Discovery §4.3: the document must be the issuer's own.
        guard let issuer = document["issuer"]?.stringValue, issuer == provider.issuer || issuer == base else {
            throw Failure("The provider's discovery document names another issuer")
        }
        guard let authorization = document["authorization_endpoint"]?.stringValue, let token = document["token_endpoint"]?.stringValue else {
            throw Failure("The provider's discovery document has no authorization or token endpoint")
        }
        let endpoints = Endpoints(
            authorization: provider.authorizationEndpoint ?? authorization, token: provider.tokenEndpoint ?? token,
            userinfo: provider.userinfoEndpoint ?? document["userinfo_endpoint"]?.stringValue)
        discovered.withLock { $0[provider.id] = endpoints }
        return endpoints
    }

    /// Exchanges the code and answers the claims of the ID token, completed by userinfo. The ID
    /// token comes straight from the token endpoint over the connection Axon opened, so its
    /// issuer is the provider's (OpenID Connect Core §3.1.3.7); its audience, expiry and nonce
    /// are still checked.
    func claims(
        _ provider: OIDCProviderConfig, code: String, verifier: String, nonce: String, redirectURI: String
    ) async throws -> JSONObject {
        let endpoints = try await endpoints(provider)
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", provider.clientID)]
        if provider.pkce { form.append(("code_verifier", verifier)) }
        if let secret = provider.clientSecret { form.append(("client_secret", secret)) }
        let body = form.map { "\($0.0)=\(PercentEncoding.queryValue($0.1))" }.joined(separator: "&")
        let tokens = try await send(endpoints.token, provider: provider, body: body, bearer: nil)
        guard let idToken = tokens["id_token"]?.stringValue else { throw Failure("The provider answered no ID token") }
        var claims = try Self.idTokenClaims(idToken, provider: provider, nonce: nonce)
        if let userinfo = endpoints.userinfo, let accessToken = tokens["access_token"]?.stringValue {
            let info = try await send(userinfo, provider: provider, body: nil, bearer: accessToken)
            // OpenID Connect Core §5.3.2: userinfo is about the same subject or is ignored.
            if info["sub"]?.stringValue == claims["sub"]?.stringValue, let object = info.objectValue {
                for (key, value) in object where claims[key] == nil { claims[key] = value }
            }
        }
        return claims
    }

    static func idTokenClaims(_ token: String, provider: OIDCProviderConfig, nonce: String) throws -> JSONObject {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = UnpaddedBase64.decode(String(parts[1])),
            let claims = (try? JSONParser.parse(payload))?.objectValue
        else { throw Failure("The provider's ID token is not a JWT") }
        let audience = claims["aud"]?.stringValue.map { [$0] } ?? claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard audience.contains(provider.clientID) else { throw Failure("The ID token is for another client") }
        guard let expiry = claims["exp"]?.intValue, expiry * 1000 > nowMillis() else { throw Failure("The ID token has expired") }
        guard claims["nonce"]?.stringValue == nonce else { throw Failure("The ID token does not carry this sign-in's nonce") }
        guard claims["sub"]?.stringValue?.isEmpty == false else { throw Failure("The ID token has no subject") }
        return claims
    }

    private func send(_ url: String, provider: OIDCProviderConfig, body: String?, bearer: String?) async throws -> JSON {
        guard outboundEnabled else { throw Failure("Outbound requests are turned off (outbound_enabled: false)") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await OutboundHTTP.client(extraCAFile: provider.caFile).execute(request, timeout: .seconds(15))
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            // Unreachable, too slow, or an answer over 1 MiB: all the provider's failure.
            throw Failure("The provider could not be reached or its answer was too large")
        }
        guard response.status == .ok, let json = try? JSONParser.parse(bytes.readableBytesView) else {
            throw Failure("The provider answered \(response.status.code)")
        }
        return json
    }
}
