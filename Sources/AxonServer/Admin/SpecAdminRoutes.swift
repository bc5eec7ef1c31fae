import AxonStorage
import MatrixModel

/// The spec's own admin endpoints (v1.18): suspending and locking accounts.
extension ServerContext {
    func registerSpecAdminRoutes(on routes: RouteTable) {
        for (kind, field) in [("suspend", "suspended"), ("lock", "locked")] {
            routes.add(.get, "/_matrix/client/v1/admin/\(kind)/{userId}") { request in
                try requireAdmin(request)
                let userID = try localUser(request).description
                guard let restrictions = try await storage.accountRestrictions(userID: userID) else { throw MatrixError.notFound("User not found") }
                return .ok([.init(stringLiteral: field): .bool(kind == "suspend" ? restrictions.suspended : restrictions.locked)])
            }
            routes.add(.put, "/_matrix/client/v1/admin/\(kind)/{userId}") { request in
                try requireAdmin(request)
                let userID = try localUser(request).description
                guard let value = try request.jsonObject().optionalBool(field) else { throw MatrixError.missingParam("Missing '\(field)'") }
                guard userID != request.user.userID || !value else { throw MatrixError.badJSON("You may not \(kind) yourself") }
                guard try await storage.accountRestrictions(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
                if kind == "suspend" {
                    try await storage.setSuspended(userID: userID, suspended: value)
                } else {
                    try await storage.setLocked(userID: userID, locked: value)
                }
                logger.info("an admin changed an account", metadata: ["user_id": "\(userID)", field: "\(value)", "admin": "\(request.user.userID)"])
                return .ok([.init(stringLiteral: field): .bool(value)])
            }
        }
    }
}
