import AxonStorage
import MatrixModel

/// Synapse's admin API for users (`/_synapse/admin`, the shapes synadm and synapse-admin
/// read): server admins only, 403 `M_FORBIDDEN` for anyone else.
extension ServerContext {
    static let axonVersion = "0.1.0"

    func requireAdmin(_ request: MatrixRequest) throws(MatrixError) {
        guard request.user.isAdmin else { throw MatrixError.forbidden("You are not a server admin") }
    }

    /// A user ID parameter naming a local user.
    func localUser(_ request: MatrixRequest) throws(MatrixError) -> UserID {
        let text = request.parameter("userId")
        guard let userID = UserID(text) else { throw MatrixError.invalidParam("'\(text)' is not a user ID") }
        guard userID.server == serverName else { throw MatrixError.invalidParam("Only local users can be administered") }
        return userID
    }

    func registerAdminUserRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/server_version", auth: .none) { _ in
            .ok(["server_version": .string("Axon \(Self.axonVersion)")])
        }
        for version in ["v2", "v3"] {
            routes.add(.get, "/_synapse/admin/\(version)/users") { request in
                try requireAdmin(request)
                return try await listUsers(request, version: version)
            }
        }
        routes.add(.get, "/_synapse/admin/v2/users/{userId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request)
            guard let account = try await storage.account(userID: userID.description) else { throw MatrixError.notFound("User not found") }
            return .ok(.object(try await details(account)))
        }
        routes.add(.put, "/_synapse/admin/v2/users/{userId}") { request in
            try requireAdmin(request)
            return try await createOrModifyUser(request)
        }
        routes.add(.post, "/_synapse/admin/v1/deactivate/{userId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
            let erase = try request.jsonObject().optionalBool("erase") ?? false
            try await deactivate(userID, erase: erase)
            return .ok(["id_server_unbind_result": "success"])
        }
        routes.add(.post, "/_synapse/admin/v1/reset_password/{userId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
            let body = try request.jsonObject()
            try await setPassword(userID, try body.requiredString("new_password"), logoutDevices: try body.optionalBool("logout_devices") ?? true)
            return .ok([:])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/admin") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard let account = try await storage.account(userID: userID) else { throw MatrixError.notFound("User not found") }
            return .ok(["admin": .bool(account.isAdmin)])
        }
        routes.add(.put, "/_synapse/admin/v1/users/{userId}/admin") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard let admin = try request.jsonObject().optionalBool("admin") else { throw MatrixError.missingParam("Missing 'admin'") }
            guard userID != request.user.userID || admin else { throw MatrixError.badJSON("You may not demote yourself") }
            guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
            try await storage.setAdmin(userID: userID, isAdmin: admin)
            return .ok([:])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/joined_rooms") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            let rooms = try await storage.memberships(userID: userID).filter { $0.membership == "join" }.map(\.roomID).sorted()
            return .ok(["joined_rooms": .array(rooms.map(JSON.string)), "total": .int(Int64(rooms.count))])
        }
        routes.add(.get, "/_synapse/admin/v1/username_available") { request in
            try requireAdmin(request)
            guard let username = request.query("username"), let userID = UserID("@\(username.lowercased()):\(serverName)") else {
                throw MatrixError(400, "M_INVALID_USERNAME", "Not a valid username")
            }
            guard try await storage.accounts(matchingLowercasedUserID: userID.description).isEmpty else { throw MatrixError.userInUse() }
            return .ok(["available": true])
        }
        routes.add(.get, "/_synapse/admin/v1/threepid/{medium}/users/{address}") { request in
            try requireAdmin(request)
            let medium = request.parameter("medium")
            let address = medium == "email" ? (try? Self.canonicalEmail(request.parameter("address"))) ?? "" : request.parameter("address")
            guard let userID = try await storage.threePIDUser(medium: medium, address: address) else { throw MatrixError.notFound("User not found") }
            return .ok(["user_id": .string(userID)])
        }
        routes.add(.get, "/_synapse/admin/v1/auth_providers/{provider}/users/{externalId}") { request in
            try requireAdmin(request)
            guard let userID = try await storage.externalUser(providerID: request.parameter("provider"), subject: request.parameter("externalId")) else {
                throw MatrixError.notFound("User not found")
            }
            return .ok(["user_id": .string(userID)])
        }
    }

    private func listUsers(_ request: MatrixRequest, version: String) async throws -> MatrixResponse {
        var query = AccountListQuery()
        (query.from, query.limit) = try request.adminPage()
        query.name = request.query("name") ?? request.query("user_id")
        if let guests = try request.booleanQuery("guests"), !guests { query.guests = false }
        query.admins = try request.booleanQuery("admins")
        // v2: deactivated=true adds deactivated accounts; v3: true is only them, false only
        // active ones, absent both.
        let deactivated = try request.booleanQuery("deactivated")
        query.deactivated = version == "v2" ? (deactivated == true ? nil : false) : deactivated
        query.order = try request.orderQuery { AccountListQuery.Order(rawValue: $0) } ?? query.order
        query.descending = try request.backwardsQuery()
        let (accounts, total) = try await storage.listAccounts(query)
        var users: [JSON] = []
        for account in accounts { users.append(.object(listEntry(account))) }
        var response: JSONObject = ["users": .array(users), "total": .int(Int64(total))]
        if query.from + accounts.count < total { response["next_token"] = .string(String(query.from + accounts.count)) }
        return .ok(.object(response))
    }

    private func listEntry(_ account: Account) -> JSONObject {
        [
            "name": .string(account.userID), "user_type": .null, "is_guest": .bool(account.isGuest), "admin": .bool(account.isAdmin),
            "deactivated": .bool(account.isDeactivated), "shadow_banned": .bool(account.isShadowBanned), "displayname": account.profile["displayname"] ?? .null,
            "avatar_url": account.profile["avatar_url"] ?? .null, "creation_ts": .int(account.createdAt / 1000), "approved": true,
            "erased": false, "locked": .bool(account.isLocked),
        ]
    }

    func details(_ account: Account) async throws -> JSONObject {
        var entry = listEntry(account)
        entry["erased"] = .bool(try await storage.erasedUsers(among: [account.userID]).contains(account.userID))
        entry["threepids"] = .array(try await storage.threePIDs(userID: account.userID).map {
            ["medium": .string($0.medium), "address": .string($0.address), "validated_at": .int($0.validatedAt), "added_at": .int($0.addedAt)]
        })
        entry["external_ids"] = .array(try await storage.externalIDs(userID: account.userID).map {
            ["auth_provider": .string($0.providerID), "external_id": .string($0.subject)]
        })
        entry["appservice_id"] = .null
        entry["consent_server_notice_sent"] = .null
        entry["consent_version"] = .null
        entry["consent_ts"] = .null
        entry["suspended"] = .bool(account.isSuspended)
        if let seen = try await storage.devices(userID: account.userID).compactMap(\.lastSeenAt).max() { entry["last_seen_ts"] = .int(seen) }
        return entry
    }
}
