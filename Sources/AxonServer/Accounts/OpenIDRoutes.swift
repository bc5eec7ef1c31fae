import AxonStorage
import MatrixModel

/// `POST /user/{userId}/openid/request_token` (spec openid.yaml): a short-lived token a
/// client hands to a third party (an integration manager, a widget), which checks it with
/// this server's federation API (`/openid/userinfo`, Federation II). Only its hash is kept.
extension ServerContext {
    static let openIDTokenLifetimeSeconds: Int64 = 3600

    func registerOpenIDRoutes(on routes: RouteTable) {
        routes.client(.post, "/user/{userId}/openid/request_token") { request in
            try requireSelf(request, userID: request.parameter("userId"))
            _ = try request.jsonObject()
            let token = "oid_" + UnpaddedBase64.encode(RandomString.bytes(32), urlSafe: true)
            try await storage.createOpenIDToken(
                tokenHash: Authenticator.hash(token: token), userID: request.user.userID,
                expiresAt: nowMillis() + Self.openIDTokenLifetimeSeconds * 1000)
            return .ok([
                "access_token": .string(token), "token_type": "Bearer", "matrix_server_name": .string(serverName.value),
                "expires_in": .int(Self.openIDTokenLifetimeSeconds),
            ])
        }
    }
}
