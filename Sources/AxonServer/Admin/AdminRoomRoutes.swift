import AxonStorage
import MatrixModel

/// Synapse's admin API for one room: its details, members and state (what synadm's
/// `room details` and synapse-admin's room page read).
extension ServerContext {
    func registerAdminRoomRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}") { request in
            try requireAdmin(request)
            let (room, state) = try await adminRoom(request)
            return .ok(.object(roomDetails(room, state: state)))
        }
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/members") { request in
            try requireAdmin(request)
            let (room, _) = try await adminRoom(request)
            let members = try await storage.members(roomID: room.roomID, membership: "join").map(\.userID).sorted()
            return .ok(["members": .array(members.map(JSON.string)), "total": .int(Int64(members.count))])
        }
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/state") { request in
            try requireAdmin(request)
            let (room, _) = try await adminRoom(request)
            let events = try await storage.currentStateEvents(roomID: room.roomID).sorted { $0.streamPosition < $1.streamPosition }
            return .ok(["state": .array(events.map { ClientEventFormat.json($0, viewer: nil, version: room.version) })])
        }
    }

    private func adminRoom(_ request: MatrixRequest) async throws -> (RoomRecord, [StateKey: PDU]) {
        let roomID = request.parameter("roomId")
        guard RoomID(roomID) != nil, let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Room not found") }
        return (room, try await storage.currentState(roomID: roomID))
    }

    /// Synapse's room details shape.
    func roomDetails(_ room: RoomRecord, state: [StateKey: PDU]) -> JSONObject {
        func content(_ type: String, _ key: String) -> JSON { state[StateKey(type, "")]?.content[key] ?? .null }
        let joined = state.values.filter { $0.type == "m.room.member" && $0.membership == "join" }
        let local = joined.filter { $0.stateKey.flatMap(UserID.init)?.server == serverName }
        return [
            "room_id": .string(room.roomID), "name": content("m.room.name", "name"), "topic": content("m.room.topic", "topic"),
            "avatar": content("m.room.avatar", "url"), "canonical_alias": content("m.room.canonical_alias", "alias"),
            "joined_members": .int(Int64(joined.count)), "joined_local_members": .int(Int64(local.count)),
            "joined_local_devices": .int(0), "version": .string(room.version.identifier), "creator": .string(room.creator),
            "encryption": content("m.room.encryption", "algorithm"),
            "federatable": .bool(state[.create]?.content["m.federate"] != .bool(false)), "public": .bool(room.isPublic),
            "join_rules": content("m.room.join_rules", "join_rule"), "guest_access": content("m.room.guest_access", "guest_access"),
            "history_visibility": content("m.room.history_visibility", "history_visibility"), "state_events": .int(Int64(state.count)),
            "room_type": state[.create]?.content["type"] ?? .null, "forgotten": false,
        ]
    }
}
