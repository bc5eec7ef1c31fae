import AxonStorage
import MatrixModel

/// Spec server-server "Querying for information": profiles of local users, local aliases.
extension ServerContext {
    func registerFederationQueryRoutes(on routes: RouteTable) {
        routes.add(.get, "/_matrix/federation/v1/query/profile", auth: .server) { request in
            guard let userID = request.query("user_id") else { throw MatrixError.missingParam("Missing 'user_id'") }
            guard let parsed = UserID(userID), parsed.server == serverName else {
                throw MatrixError.invalidParam("\(userID) is not a user of this server")
            }
            guard let account = try await storage.account(userID: userID), !account.isDeactivated else {
                throw MatrixError.notFound("Profile not found")
            }
            if let field = request.query("field") {
                guard let value = account.profile[field] else { throw MatrixError.notFound("Profile field not found") }
                return .ok([.init(stringLiteral: field): value])
            }
            return .ok(.object(account.profile))
        }
    }

    /// A third party (an integration manager) checks an OpenID token a client gave it; the
    /// request is not signed (spec: the token is the credential), and says only whose it is.
    func registerOpenIDUserInfoRoute(on routes: RouteTable) {
        routes.add(.get, "/_matrix/federation/v1/openid/userinfo", auth: .none) { request in
            guard let token = request.query("access_token"), !token.isEmpty else {
                throw MatrixError(401, "M_UNKNOWN_TOKEN", "Missing 'access_token'")
            }
            guard let userID = try await storage.openIDTokenUser(tokenHash: Authenticator.hash(token: token), now: nowMillis()) else {
                throw MatrixError(401, "M_UNKNOWN_TOKEN", "The OpenID token is unknown or has expired")
            }
            return .ok(["sub": .string(userID)])
        }
    }

    /// Third-party invites need 3PIDs bound through an identity server; this server binds
    /// none, so the exchange and the identity server's callback are refused plainly.
    func registerThirdPartyInviteRoutes(on routes: RouteTable) {
        routes.add(.put, "/_matrix/federation/v1/exchange_third_party_invite/{roomId}", auth: .server) { _ in
            throw MatrixError.forbidden("This server does not support third-party invites")
        }
        routes.add(.put, "/_matrix/federation/v1/3pid/onbind", auth: .none) { _ in
            throw MatrixError.forbidden("This server binds no third-party identifiers")
        }
    }

    func registerDirectoryQueryRoute(on routes: RouteTable) {
        routes.add(.get, "/_matrix/federation/v1/query/directory", auth: .server) { request in
            guard let alias = request.query("room_alias") else { throw MatrixError.missingParam("Missing 'room_alias'") }
            guard let parsed = RoomAlias(alias), parsed.server == serverName else {
                throw MatrixError.invalidParam("\(alias) is not an alias of this server")
            }
            guard let target = try await storage.aliasTarget(alias) else { throw MatrixError.notFound("Room alias \(alias) not found") }
            // This server first, then every other server with a member joined.
            let others = try await storage.joinedServers(roomID: target.roomID, excluding: serverName.value)
            return .ok(["room_id": .string(target.roomID), "servers": .array(([serverName.value] + others).map(JSON.string))])
        }
    }

    /// A remote user's profile, from their server.
    func remoteProfile(of userID: UserID) async throws -> JSONObject {
        guard federation.client.mayFederate(with: userID.server.value) else { throw MatrixError.notFound("Profile not found") }
        let path = "/_matrix/federation/v1/query/profile?user_id=" + PercentEncoding.queryValue(userID.description)
        let response: FederationClient.Response
        do {
            response = try await federation.client.request(.GET, destination: userID.server.value, path: path)
        } catch {
            logger.info("remote profile query failed", metadata: ["user_id": "\(userID)", "error": "\(error)"])
            throw MatrixError(502, "M_UNKNOWN", "Could not reach \(userID.server)")
        }
        guard response.status == 200, let profile = response.json.objectValue else {
            throw MatrixError.notFound("Profile not found")
        }
        return profile
    }
}
