import AxonStorage
import HTTPTypes
import MatrixModel

/// Synapse's per-user moderation API: shadow bans, message rate limits, logging in as the
/// user, and their pushers.
extension ServerContext {
    func registerAdminUserModerationRoutes(on routes: RouteTable) {
        for (method, banned) in [(HTTPRequest.Method.post, true), (.delete, false)] {
            routes.add(method, "/_synapse/admin/v1/users/{userId}/shadow_ban") { request in
                try requireAdmin(request)
                let userID = try await existingLocalUser(request)
                try await storage.setShadowBanned(userID: userID, shadowBanned: banned)
                logger.notice("shadow ban changed", metadata: ["user_id": "\(userID)", "banned": "\(banned)", "admin": "\(request.user.userID)"])
                return .ok([:])
            }
        }
        let ratelimit = "/_synapse/admin/v1/users/{userId}/override_ratelimit"
        routes.add(.get, ratelimit) { request in
            try requireAdmin(request)
            let override = try await storage.rateLimitOverride(userID: try await existingLocalUser(request))
            return .ok(override.map(Self.overrideJSON) ?? [:])
        }
        routes.add(.post, ratelimit) { request in
            try requireAdmin(request)
            let userID = try await existingLocalUser(request)
            let body = try request.jsonObject()
            let perSecond = try body.optionalInt("messages_per_second") ?? 0
            let burst = try body.optionalInt("burst_count") ?? 0
            guard perSecond >= 0, burst >= 0 else { throw MatrixError.invalidParam("Rate limits must be non-negative integers") }
            let override = RateLimitOverride(messagesPerSecond: perSecond, burstCount: burst)
            try await storage.setRateLimitOverride(userID: userID, override)
            return .ok(Self.overrideJSON(override))
        }
        routes.add(.delete, ratelimit) { request in
            try requireAdmin(request)
            try await storage.setRateLimitOverride(userID: try await existingLocalUser(request), nil)
            return .ok([:])
        }
        routes.add(.post, "/_synapse/admin/v1/users/{userId}/login") { request in
            try requireAdmin(request)
            let userID = try await existingLocalUser(request)
            guard userID != request.user.userID else { throw MatrixError.invalidParam("Cannot use the admin API to log in as yourself") }
            guard try await storage.account(userID: userID)?.isAdmin != true else {
                throw MatrixError.forbidden("Logging in as another server admin is not allowed")
            }
            // `valid_until_ms`: the token ends then (Synapse's field); without it, it lasts
            // until the device is removed.
            let validUntil = try request.jsonObject().optionalInt("valid_until_ms")
            if let validUntil, validUntil <= nowMillis() { throw MatrixError.invalidParam("'valid_until_ms' is in the past") }
            // A device of its own, named for who opened it, so the user sees it and can end it.
            let session = try await accounts.openSession(
                userID: userID, deviceID: nil, displayName: "Admin login by \(request.user.userID)", ip: request.remoteIP,
                options: AccountService.SessionOptions(accessExpiresAt: validUntil))
            logger.notice("admin logged in as user", metadata: ["user_id": "\(userID)", "admin": "\(request.user.userID)"])
            return .ok(["access_token": .string(session.accessToken)])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/accountdata") { request in
            try requireAdmin(request)
            var global = JSONObject()
            var rooms = JSONObject()
            for entry in try await storage.accountDataChanges(userID: try await existingLocalUser(request), since: nil) {
                if let roomID = entry.roomID {
                    var room = rooms[roomID]?.objectValue ?? [:]
                    room[entry.type] = entry.content
                    rooms[roomID] = .object(room)
                } else {
                    global[entry.type] = entry.content
                }
            }
            return .ok(["account_data": ["global": .object(global), "rooms": .object(rooms)]])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/sent_invite_count") { request in
            try requireAdmin(request)
            let since = Int64(try request.integerQuery("from_ts", default: 0, maximum: Int.max))
            return .ok(["invite_count": .int(Int64(try await storage.sentInviteCount(userID: try await existingLocalUser(request), since: since)))])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/cumulative_joined_room_count") { request in
            try requireAdmin(request)
            let count = try await storage.everJoinedRoomCount(userID: try await existingLocalUser(request))
            return .ok(["cumulative_joined_room_count": .int(Int64(count))])
        }
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/pushers") { request in
            try requireAdmin(request)
            let pushers = try await storage.pushers(userID: try await existingLocalUser(request))
            return .ok(["pushers": .array(pushers.map(Self.pusherJSON)), "total": .int(Int64(pushers.count))])
        }
    }

    /// The `userId` parameter, a local user who exists.
    func existingLocalUser(_ request: MatrixRequest) async throws -> String {
        let userID = try localUser(request).description
        guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
        return userID
    }

    private static func overrideJSON(_ override: RateLimitOverride) -> JSON {
        ["messages_per_second": .int(override.messagesPerSecond), "burst_count": .int(override.burstCount)]
    }
}
