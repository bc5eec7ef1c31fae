import AxonStorage
import MatrixModel

/// Synapse's admin API for acting in a room: forward extremities, making someone the room's
/// admin, force-joining a local user.
extension ServerContext {
    func registerAdminRoomModerationRoutes(on routes: RouteTable) {
        let extremities = "/_synapse/admin/v1/rooms/{roomId}/forward_extremities"
        routes.add(.get, extremities) { request in
            try requireAdmin(request)
            let roomID = try await knownRoom(request)
            let events = try await storage.events(ids: try await storage.forwardExtremities(roomID: roomID).map(\.eventID))
            return .ok([
                "count": .int(Int64(events.count)),
                "results": .array(events.map { event in
                    [
                        "event_id": .string(event.pdu.eventID), "state_group": .int(event.stateGroup), "depth": .int(event.pdu.depth),
                        "received_ts": .int(event.pdu.originServerTS),
                    ]
                }),
            ])
        }
        // Many extremities make every new event carry many prev_events; keeping only the
        // newest lets the next event tie the graph together again.
        routes.add(.delete, extremities) { request in
            try requireAdmin(request)
            let roomID = try await knownRoom(request)
            let events = try await storage.events(ids: try await storage.forwardExtremities(roomID: roomID).map(\.eventID))
            guard let newest = events.max(by: { ($0.pdu.depth, $0.streamPosition) < ($1.pdu.depth, $1.streamPosition) }) else {
                return .ok(["deleted": 0])
            }
            let deleted = try await storage.deleteForwardExtremities(roomID: roomID, keeping: newest.pdu.eventID)
            return .ok(["deleted": .int(Int64(deleted))])
        }
        routes.add(.post, "/_synapse/admin/v1/rooms/{roomId}/make_room_admin") { request in
            try requireAdmin(request)
            let roomID = try await knownRoom(request)
            let target = try request.jsonObject().optionalString("user_id") ?? request.user.userID
            guard UserID(target)?.server == serverName, try await storage.account(userID: target) != nil else {
                throw MatrixError.invalidParam("'user_id' must name a local user")
            }
            try await makeRoomAdmin(target, roomID: roomID)
            return .ok([:])
        }
        routes.add(.post, "/_synapse/admin/v1/join/{roomIdOrAlias}") { request in
            try requireAdmin(request)
            let target = try request.jsonObject().requiredString("user_id")
            guard UserID(target)?.server == serverName, let account = try await storage.account(userID: target), !account.isDeactivated else {
                throw MatrixError.invalidParam("'user_id' must name an active local user")
            }
            let roomID = try await rooms.resolve(request.parameter("roomIdOrAlias"))
            guard try await RemoteMembership.hasState(roomID: roomID, storage: storage) else {
                throw MatrixError.notFound("This server is not in room \(roomID)")
            }
            try await forceJoin(target, roomID: roomID, admin: request.user.userID)
            return .ok(["room_id": .string(roomID)])
        }
    }

    func knownRoom(_ request: MatrixRequest) async throws -> String {
        let roomID = try adminRoomID(request)
        guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Room not found") }
        return roomID
    }

    /// Gives `target` the power of the most powerful local member who may change power
    /// levels, acting as that member; invites `target` first when the room is not public.
    private func makeRoomAdmin(_ target: String, roomID: String) async throws {
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Room not found") }
        let state = try await storage.currentState(roomID: roomID)
        let levels = PowerLevels(content: state[StateKey("m.room.power_levels", "")]?.content, create: state[.create], version: room.version)
        let needed = levels.requiredLevel(eventType: "m.room.power_levels", isState: true)
        let candidates = state.values.compactMap { event -> (String, Int64)? in
            guard event.type == "m.room.member", event.membership == "join", let user = event.stateKey,
                UserID(user)?.server == serverName, levels.userLevel(user) >= needed
            else { return nil }
            return (user, levels.userLevel(user))
        }
        guard let (actor, level) = candidates.max(by: { $0.1 < $1.1 }) else {
            throw MatrixError.invalidParam("No local member of the room may change its power levels")
        }
        let targetMembership = state[.member(target)]?.membership
        if targetMembership != "join", state[StateKey("m.room.join_rules", "")]?.content["join_rule"]?.stringValue != "public",
            targetMembership != "invite", actor != target
        {
            _ = try await rooms.setMembership(roomID: roomID, sender: actor, target: target, membership: "invite", reason: nil)
        }
        // Creators of v12 rooms already hold infinite power, which no event can grant: the
        // target gets the highest finite level there.
        guard !levels.creators.contains(target) else { return }
        let granted = level == PowerLevels.infinite ? max(100, levels.users.values.filter { $0 != PowerLevels.infinite }.max() ?? 100) : level
        guard levels.userLevel(target) < granted else { return }
        var content = state[StateKey("m.room.power_levels", "")]?.content.objectValue ?? [:]
        var users = content["users"]?.objectValue ?? [:]
        users[target] = .int(granted)
        content["users"] = .object(users)
        _ = try await rooms.send(roomID: roomID, EventTemplate(type: "m.room.power_levels", stateKey: "", sender: actor, content: .object(content)))
    }

    /// Joins a local user to a room this server is in; an invite-only room needs the admin
    /// to be a member who may invite.
    private func forceJoin(_ userID: String, roomID: String, admin: String) async throws {
        if try await storage.membership(roomID: roomID, userID: userID)?.membership == "join" { return }
        do {
            _ = try await rooms.setMembership(roomID: roomID, sender: userID, target: userID, membership: "join", reason: nil)
        } catch let error as MatrixError where error.status == 403 {
            guard try await storage.membership(roomID: roomID, userID: admin)?.membership == "join" else { throw error }
            _ = try await rooms.setMembership(roomID: roomID, sender: admin, target: userID, membership: "invite", reason: nil)
            _ = try await rooms.setMembership(roomID: roomID, sender: userID, target: userID, membership: "join", reason: nil)
        }
    }
}
