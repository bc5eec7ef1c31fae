@testable import AxonServer
import Foundation
import MatrixModel
import Testing

@Suite struct SSOTests {
    static func jwt(_ claims: JSON) -> String {
        "eyJhbGciOiJSUzI1NiJ9." + UnpaddedBase64.encode(claims.encodedBytes(), urlSafe: true) + ".c2ln"
    }

    @Test func idTokensAreCheckedForAudienceExpiryNonceAndSubject() throws {
        let provider = OIDCProviderConfig(id: "idp", name: "IdP", issuer: "https://idp.example.org", clientID: "axon")
        let future = Int64(Date().timeIntervalSince1970) + 300
        let good: JSON = ["sub": "u1", "aud": "axon", "exp": .int(future), "nonce": "n1", "iss": "https://idp.example.org"]
        #expect(try OIDCClient.idTokenClaims(Self.jwt(good), provider: provider, nonce: "n1")["sub"] == "u1")
        var listed = good
        listed["aud"] = ["other", "axon"]
        #expect(try OIDCClient.idTokenClaims(Self.jwt(listed), provider: provider, nonce: "n1")["sub"] == "u1")
        for (key, value) in [("aud", JSON.string("other")), ("exp", .int(future - 600)), ("nonce", .string("n2")), ("sub", .string(""))] {
            var bad = good
            bad[key] = value
            #expect(throws: OIDCClient.Failure.self, "\(key)") { try OIDCClient.idTokenClaims(Self.jwt(bad), provider: provider, nonce: "n1") }
        }
        #expect(throws: OIDCClient.Failure.self) { try OIDCClient.idTokenClaims("not-a-jwt", provider: provider, nonce: "n1") }
    }

    @Test func claimsBecomeValidLocalparts() {
        #expect(ServerContext.mappedLocalpart("Alice.Smith") == "alice.smith")
        #expect(ServerContext.mappedLocalpart("bob smith@corp") == "bob=20smith=40corp")
        #expect(UserID.isCompliantLocalpart(ServerContext.mappedLocalpart("Zoë!")))
    }

    @Test func providersAreValidatedInTheConfig() throws {
        let yaml = """
            oidc_providers:
              - idp_id: "bad id"
                issuer: https://idp.example.org
                client_id: axon
            """
        #expect(throws: ConfigError.self) { try ConfigOverrides.fromYAML(yaml).apply(to: &Self.scratch) }
        let good = try ConfigOverrides.fromYAML("oidc_providers: [{idp_id: corp, idp_name: Corp, issuer: 'https://idp.example.org', client_id: axon}]")
        var config = AxonConfig()
        try good.apply(to: &config)
        #expect(config.oidcProviders.first?.scopes == ["openid", "profile", "email"])
        #expect(config.oidcProviders.first?.pkce == true)
    }

    nonisolated(unsafe) static var scratch = AxonConfig()
}
