import AxonStorage
import MatrixModel

/// join, invite, leave, forget, kick, ban, unban and knock: each a membership event through
/// the pipeline, so the room version's auth rules decide.
extension ServerContext {
    func registerMembershipRoutes(on routes: RouteTable) {
        routes.client(.post, "/join/{roomIdOrAlias}", auth: .required(allowGuests: true), rateLimit: .message) { request in
            let roomID = try await rooms.resolve(request.parameter("roomIdOrAlias"))
            return try await join(request, roomID: roomID)
        }
        routes.client(.post, "/rooms/{roomId}/join", auth: .required(allowGuests: true), rateLimit: .message) { request in
            try await join(request, roomID: try roomIDParameter(request))
        }
        routes.client(.post, "/knock/{roomIdOrAlias}", rateLimit: .message) { request in
            let roomID = try await rooms.resolve(request.parameter("roomIdOrAlias"))
            let body = try request.jsonObject()
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

    private func join(_ request: MatrixRequest, roomID: String) async throws -> MatrixResponse {
        let body = try request.jsonObject()
        if try await storage.room(id: roomID) == nil { throw MatrixError.notFound("Unknown room \(roomID)") }
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
            guard try await storage.account(userID: target) != nil || UserID(target)?.server != serverName else {
                throw MatrixError.notFound("Unknown user \(target)")
            }
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
