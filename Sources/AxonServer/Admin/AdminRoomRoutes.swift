import AxonStorage
import MatrixModel

/// Synapse's admin API for rooms: the list, one room's details, members and state (what
/// synadm's `room list` and `room details` and synapse-admin's room pages read), and blocks.
extension ServerContext {
    func registerAdminRoomRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/rooms") { request in
            try requireAdmin(request)
            return try await listRooms(request)
        }
        routes.add(.get, "/_synapse/admin/v1/rooms/{roomId}/block") { request in
            try requireAdmin(request)
            let by = try await storage.roomBlock(roomID: try adminRoomID(request))
            return .ok(by.map { ["block": true, "user_id": .string($0)] } ?? ["block": false])
        }
        routes.add(.put, "/_synapse/admin/v1/rooms/{roomId}/block") { request in
            try requireAdmin(request)
            let roomID = try adminRoomID(request)
            guard let block = try request.jsonObject()["block"]?.boolValue else { throw MatrixError.badJSON("'block' must be true or false") }
            try await storage.setRoomBlock(roomID: roomID, by: block ? request.user.userID : nil)
            return .ok(["block": .bool(block)])
        }
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

    private func listRooms(_ request: MatrixRequest) async throws -> MatrixResponse {
        var query = RoomListQuery()
        (query.from, query.limit) = try request.adminPage()
        query.order = try request.orderQuery { RoomListQuery.Order(synapseName: $0) } ?? query.order
        query.descending = try request.backwardsQuery()
        query.searchTerm = request.query("search_term")
        query.publicRooms = try request.booleanQuery("public_rooms")
        query.emptyRooms = try request.booleanQuery("empty_rooms")
        let (rooms, total) = try await storage.listRooms(query, localServer: serverName.value)
        var response: JSONObject = [
            "rooms": .array(rooms.map { .object(listEntry($0)) }), "offset": .int(Int64(query.from)), "total_rooms": .int(Int64(total)),
        ]
        if query.from + rooms.count < total { response["next_batch"] = .int(Int64(query.from + rooms.count)) }
        if query.from > 0 { response["prev_batch"] = .int(Int64(max(0, query.from - query.limit))) }
        return .ok(.object(response))
    }

    private func listEntry(_ room: RoomSummary) -> JSONObject {
        func text(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
        return [
            "room_id": .string(room.roomID), "name": text(room.name), "canonical_alias": text(room.canonicalAlias),
            "joined_members": .int(Int64(room.joinedMembers)), "joined_local_members": .int(Int64(room.joinedLocalMembers)),
            "version": .string(room.version), "creator": .string(room.creator), "encryption": text(room.encryption),
            "federatable": .bool(room.federatable), "public": .bool(room.isPublic), "join_rules": text(room.joinRules),
            "guest_access": text(room.guestAccess), "history_visibility": text(room.historyVisibility),
            "state_events": .int(Int64(room.stateEvents)), "room_type": text(room.roomType),
        ]
    }

    func adminRoomID(_ request: MatrixRequest) throws(MatrixError) -> String {
        let roomID = request.parameter("roomId")
        guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("'\(roomID)' is not a room ID") }
        return roomID
    }

    private func adminRoom(_ request: MatrixRequest) async throws -> (RoomRecord, [StateKey: PDU]) {
        let roomID = try adminRoomID(request)
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Room not found") }
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
