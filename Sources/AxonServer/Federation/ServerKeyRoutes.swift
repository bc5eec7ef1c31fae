import AxonStorage
import MatrixModel

/// Spec "Publishing Keys" and "Querying Keys Through Another Server": this server's keys, and
/// other servers' keys as a notary, countersigned.
extension ServerContext {
    func registerServerKeyRoutes(on routes: RouteTable) {
        for path in ["/_matrix/key/v2/server", "/_matrix/key/v2/server/{keyId}"] {
            routes.add(.get, path, auth: .none) { _ in
                .ok(.object(try federation.keys.ownResponse()))
            }
        }
        routes.add(.get, "/_matrix/key/v2/query/{serverName}", auth: .none) { request in
            let minimum = try request.integerQuery("minimum_valid_until_ts", default: Int(nowMillis()), maximum: Int(Int64.max))
            return .ok(["server_keys": .array(try await notarised(request.parameter("serverName"), minimumValidUntil: Int64(minimum)))])
        }
        routes.add(.post, "/_matrix/key/v2/query", auth: .none) { request in
            let body = try request.jsonObject()
            guard let servers = try body.optionalObject("server_keys")?.objectValue else {
                throw MatrixError.missingParam("Missing 'server_keys'")
            }
            guard servers.count <= 100 else { throw MatrixError.invalidParam("At most 100 servers per query") }
            var answers: [JSON] = []
            for (server, criteria) in servers {
                let minimum = (criteria.objectValue ?? [:]).compactMap { $0.value["minimum_valid_until_ts"]?.intValue }.max() ?? nowMillis()
                answers += try await notarised(server, minimumValidUntil: minimum)
            }
            return .ok(["server_keys": .array(answers)])
        }
        routes.add(.get, "/_matrix/federation/v1/version", auth: .none) { _ in
            .ok(["server": ["name": "Axon", "version": .string(AxonServer.version)]])
        }
    }

    /// The server's own responses, each with this server's signature added.
    private func notarised(_ server: String, minimumValidUntil: Int64) async throws -> [JSON] {
        guard ServerName(server) != nil else { return [] }
        return try await federation.keys.responses(for: server, minimumValidUntil: minimumValidUntil).map { response in
            server == serverName.value ? .object(response) : .object(try JSONSigning.sign(response, server: serverName.value, key: signingKey))
        }
    }
}
