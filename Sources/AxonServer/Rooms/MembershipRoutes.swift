import AxonStorage
import MatrixModel

/// join, invite, leave, forget, kick, ban, unban and knock: each a membership event through
/// the pipeline, so the room version's auth rules decide.
extension ServerContext {
    func registerMembershipRoutes(on routes: RouteTable) {
        routes.client(.post, "/join/{roomIdOrAlias}", auth: .required(allowGuests: true), rateLimit: .message) { request in
            let target = request.parameter("roomIdOrAlias")
            if let alias = RoomAlias(target), alias.server != serverName {
                let (roomID, servers) = try await remoteAlias(target)
                return try await join(request, roomID: roomID, servers: servers)
            }
            // An unknown alias an application service claims may be made by it now (a bridge's portal).
            if RoomAlias(target) != nil, let made = try await localAliasTarget(target) { return try await join(request, roomID: made.roomID) }
            return try await join(request, roomID: try await rooms.resolve(target))
        }
        routes.client(.post, "/rooms/{roomId}/join", auth: .required(allowGuests: true), rateLimit: .message) { request in
            try await join(request, roomID: try roomIDParameter(request))
        }
        routes.client(.post, "/knock/{roomIdOrAlias}", rateLimit: .message) { request in
            let target = request.parameter("roomIdOrAlias")
            var roomID: String
            var servers: [String] = []
            if let alias = RoomAlias(target), alias.server != serverName {
                (roomID, servers) = try await remoteAlias(target)
            } else {
                roomID = try await rooms.resolve(target)
            }
            let body = try request.jsonObject()
            if try await !RemoteMembership.hasState(roomID: roomID, storage: storage) {
                // Knocking on a room only other servers have: through the servers named.
                servers = (request.query["server_name"] ?? []) + (request.query["via"] ?? []) + servers
                if let domain = RoomID(roomID)?.server?.value { servers.append(domain) }
                servers = servers.reduce(into: [String]()) { list, server in
                    if !list.contains(server), server != serverName.value { list.append(server) }
                }
                var content: JSONObject = [:]
                if let reason = try body.optionalString("reason") { content["reason"] = .string(reason) }
                if let profile = try await storage.account(userID: request.user.userID)?.profile {
                    for key in ["displayname", "avatar_url"] { content[key] = profile[key] }
                }
                _ = try await RemoteMembership(context: self).knock(roomID: roomID, userID: request.user.userID, servers: servers, content: content)
                return .ok(["room_id": .string(roomID)])
            }
            _ = try await rooms.setMembership(
                roomID: roomID, sender: request.user.userID, target: request.user.userID, membership: "knock",
                reason: try body.optionalString("reason"))
            return .ok(["room_id": .string(roomID)])
        }
        routes.client(.post, "/rooms/{roomId}/invite", rateLimit: .message) { request in
            try await targeted(request, membership: "invite")
        }
        routes.client(.post, "/rooms/{roomId}/leave", auth: .required(allowGuests: true), rateLimit: .message) { request in
            let roomID = try roomIDParameter(request)
            let body = try request.jsonObject()
            if try await !RemoteMembership.hasState(roomID: roomID, storage: storage),
                let membership = try await storage.membership(roomID: roomID, userID: request.user.userID),
                ["invite", "knock"].contains(membership.membership)
            {
                // Rejecting an invite or retracting a knock in a room only other servers have.
                _ = try await RemoteMembership(context: self).leave(
                    roomID: roomID, userID: request.user.userID, servers: try await residentServers(roomID: roomID, membership: membership),
                    reason: try body.optionalString("reason"))
                return .empty
            }
            _ = try await rooms.setMembership(
                roomID: roomID, sender: request.user.userID, target: request.user.userID, membership: "leave",
                reason: try body.optionalString("reason"))
            return .empty
        }
        routes.client(.post, "/rooms/{roomId}/forget", auth: .required(allowGuests: true)) { request in
            try await rooms.forget(roomID: try roomIDParameter(request), userID: request.user.userID)
            return .empty
        }
        routes.client(.post, "/rooms/{roomId}/kick", rateLimit: .message) { request in
            try await targeted(request, membership: "leave")
        }
        routes.client(.post, "/rooms/{roomId}/ban", rateLimit: .message) { request in
            try await targeted(request, membership: "ban")
        }
        routes.client(.post, "/rooms/{roomId}/unban", rateLimit: .message) { request in
            let roomID = try roomIDParameter(request)
            let body = try request.jsonObject()
            let target = try body.requiredString("user_id")
            guard try await storage.membership(roomID: roomID, userID: target)?.membership == "ban" else {
                throw MatrixError.forbidden("\(target) is not banned")
            }
            _ = try await rooms.setMembership(
                roomID: roomID, sender: request.user.userID, target: target, membership: "leave",
                reason: try body.optionalString("reason"))
            return .empty
        }
    }

    /// Servers that can answer for a room this server knows only a membership in: the one
    /// whose user sent the invite (or that took the knock), then the room ID's.
    private func residentServers(roomID: String, membership: Membership?) async throws -> [String] {
        var servers: [String] = []
        if let membership, let event = try await storage.event(id: membership.eventID) {
            let sender = event.pdu.sender
            if let server = UserID(sender)?.server.value, server != serverName.value { servers.append(server) }
            for stripped in RemoteMembership.shownState(of: event.pdu) {
                if let server = stripped["sender"]?.stringValue.flatMap(UserID.init)?.server.value, !servers.contains(server),
                    server != serverName.value
                {
                    servers.append(server)
                }
            }
        }
        if let domain = RoomID(roomID)?.server?.value, !servers.contains(domain), domain != serverName.value { servers.append(domain) }
        return servers
    }

    private func join(_ request: MatrixRequest, roomID: String, servers: [String] = []) async throws -> MatrixResponse {
        let body = try request.jsonObject()
        if try await !RemoteMembership.hasState(roomID: roomID, storage: storage) {
            // A blocked room may be one this server no longer has (deleted, purged); joins
            // of rooms it has are refused in `setMembership`.
            try await RoomService.refuseBlocked(roomID, storage: storage)
            // A room this server is not in: join through the servers named, the alias's, the
            // inviter's, or the one in the room ID (before v12 room IDs carry a server name).
            var candidates = (request.query["server_name"] ?? []) + (request.query["via"] ?? []) + servers
            candidates += try await residentServers(roomID: roomID, membership: try await storage.membership(roomID: roomID, userID: request.user.userID))
            candidates = candidates.reduce(into: [String]()) { list, server in
                if !list.contains(server), server != serverName.value { list.append(server) }
            }
            guard !candidates.isEmpty, !request.user.isGuest else { throw MatrixError.notFound("Unknown room \(roomID)") }
            var extra = body.objectValue ?? [:]
            for key in ["reason", "third_party_signed", "membership"] { extra[key] = nil }
            if let reason = try body.optionalString("reason") { extra["reason"] = .string(reason) }
            if let profile = try await storage.account(userID: request.user.userID)?.profile {
                for key in ["displayname", "avatar_url"] where extra[key] == nil { extra[key] = profile[key] }
            }
            _ = try await RemoteJoin(context: self).join(roomID: roomID, userID: request.user.userID, servers: candidates, extraContent: extra)
            return .ok(["room_id": .string(roomID)])
        }
        if request.user.isGuest,
            try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.guest_access", ""))?
                .content["guest_access"]?.stringValue != "can_join"
        {
            throw MatrixError.guestAccessForbidden()
        }
        // Other keys of the body are the client's own member content, kept in the event.
        var extra = body.objectValue ?? [:]
        for key in ["reason", "third_party_signed", "membership"] { extra[key] = nil }
        _ = try await rooms.setMembership(
            roomID: roomID, sender: request.user.userID, target: request.user.userID, membership: "join",
            reason: try body.optionalString("reason"), extra: extra)
        return .ok(["room_id": .string(roomID)])
    }

    /// A remote alias, from its server (`/query/directory`).
    func remoteAlias(_ alias: String) async throws -> (String, [String]) {
        guard let server = RoomAlias(alias)?.server.value else { throw MatrixError.invalidParam("Invalid room alias") }
        guard federation.client.mayFederate(with: server) else { throw MatrixError.notFound("Room alias \(alias) not found") }
        let response: FederationClient.Response
        do {
            response = try await federation.client.request(
                .GET, destination: server, path: "/_matrix/federation/v1/query/directory?room_alias=" + PercentEncoding.queryValue(alias))
        } catch {
            throw MatrixError(502, "M_UNKNOWN", "Could not reach \(server)")
        }
        guard response.status == 200, let roomID = response.json["room_id"]?.stringValue, RoomID(roomID) != nil else {
            throw MatrixError.notFound("Room alias \(alias) not found")
        }
        return (roomID, (response.json["servers"]?.arrayValue ?? []).compactMap(\.stringValue) + [server])
    }

    /// invite, kick and ban name a target user in the body.
    private func targeted(_ request: MatrixRequest, membership: String) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let body = try request.jsonObject()
        if membership == "invite", body.optional("medium") != nil || body.optional("id_server") != nil {
            throw MatrixError(403, "M_THREEPID_DENIED", "Third-party invites are not supported on this server")
        }
        let target = try body.requiredString("user_id")
        guard UserID(target) != nil else { throw MatrixError.invalidParam("'\(target)' is not a user ID") }
        if membership == "invite" {
            // A local user an application service claims may be made by it now (a puppet invited before it exists).
            var known = try await storage.account(userID: target) != nil || UserID(target)?.server != serverName
            if !known { known = await appServiceMadeUser(target) }
            guard known else { throw MatrixError.notFound("Unknown user \(target)") }
            // A shadow-banned user's invites are answered as sent and reach no one.
            if await shadowBanAnswer(request) != nil { return .empty }
        } else if membership == "leave" {
            guard let current = try await storage.membership(roomID: roomID, userID: target)?.membership,
                current != "leave"
            else { throw MatrixError.forbidden("\(target) is not in the room") }
            // A kick would turn the ban into a leave, lifting it: unbanning is its own act.
            guard current != "ban" else { throw MatrixError.forbidden("\(target) is banned: unban them instead") }
        }
        _ = try await rooms.setMembership(
            roomID: roomID, sender: request.user.userID, target: target, membership: membership,
            reason: try body.optionalString("reason"))
        return .empty
    }
}
