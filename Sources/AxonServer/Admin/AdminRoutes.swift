import AxonStorage
import MatrixModel

/// `GET /admin/whois/{userId}` (spec admin.yaml): a user's devices and where they were last
/// seen, for the user themself or a server admin. User agents are not recorded.
extension ServerContext {
    func registerAdminRoutes(on routes: RouteTable) {
        routes.client(.get, "/admin/whois/{userId}") { request in
            try await whois(request)
        }
        // Synapse's path for the same answer.
        routes.add(.get, "/_synapse/admin/v1/whois/{userId}") { request in
            try await whois(request)
        }
    }

    private func whois(_ request: MatrixRequest) async throws -> MatrixResponse {
        let userID = request.parameter("userId")
        guard request.user.userID == userID || request.user.isAdmin else {
            throw MatrixError.forbidden("Only server admins may look up other users")
        }
        guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("Unknown user") }
        var devices = JSONObject()
        for device in try await storage.devices(userID: userID) {
            var connection = JSONObject()
            if let ip = device.lastSeenIP { connection["ip"] = .string(ip) }
            if let seen = device.lastSeenAt { connection["last_seen"] = .int(seen) }
            if let agent = device.lastSeenUserAgent { connection["user_agent"] = .string(agent) }
            devices[device.deviceID] = ["sessions": [["connections": connection.isEmpty ? [] : [.object(connection)]]]]
        }
        return .ok(["user_id": .string(userID), "devices": .object(devices)])
    }
}
