import AxonStorage
import MatrixModel

/// Room previews: `room_summary` and the space `hierarchy`. A room can be previewed when it
/// is world-readable or joinable by knock or publicly, when the user is in or invited to
/// it, or when a restricted rule names a room the user is in.
extension ServerContext {
    func registerRoomSummaryRoutes(on routes: RouteTable) {
        routes.add(.get, "/_matrix/client/v1/room_summary/{roomIdOrAlias}", auth: .optional) { request in
            let target = request.parameter("roomIdOrAlias")
            var via = request.query["via"] ?? []
            let roomID: String
            if target.hasPrefix("#"), let alias = RoomAlias(target), alias.server != serverName {
                let resolved = try await remoteAlias(target)
                roomID = resolved.0
                via += resolved.1
            } else {
                roomID = try await rooms.resolve(target)
            }
            let state = try await storage.currentState(roomID: roomID)
            if state.isEmpty {
                // A room only other servers have: their summary, if this user may see it.
                guard let remote = await remoteHierarchy(
                    roomID: roomID, servers: Self.candidateServers(roomID: roomID, via: via), userID: request.owner?.userID,
                    suggestedOnly: false)
                else { throw MatrixError.notFound("Room not found or not previewable") }
                var summary = Self.clientChunk(remote.room)
                summary["children_state"] = nil
                if let userID = request.owner?.userID {
                    summary["membership"] = .string(try await storage.membership(roomID: roomID, userID: userID)?.membership ?? "leave")
                }
                return .ok(.object(summary))
            }
            guard try await canPreview(state: state, userID: request.owner?.userID) else {
                throw MatrixError.notFound("Room not found or not previewable")
            }
            var summary = try await chunk(roomID: roomID, state: state)
            if let userID = request.owner?.userID {
                summary["membership"] = .string(state[.member(userID)]?.membership ?? "leave")
            }
            if let version = try await storage.room(id: roomID)?.version { summary["room_version"] = .string(version.identifier) }
            if let algorithm = state[StateKey("m.room.encryption", "")]?.content["algorithm"] { summary["encryption"] = algorithm }
            return .ok(.object(summary))
        }
        routes.add(.get, "/_matrix/client/v1/rooms/{roomId}/hierarchy", auth: .required(allowGuests: true)) { request in
            try await hierarchy(request)
        }
    }

    func canPreview(state: [StateKey: PDU], userID: String?) async throws -> Bool {
        if state[.historyVisibility]?.content["history_visibility"] == "world_readable" { return true }
        let joinRule = state[.joinRules]?.content["join_rule"]?.stringValue ?? "invite"
        if ["public", "knock", "knock_restricted"].contains(joinRule) { return true }
        guard let userID else { return false }
        if let membership = state[.member(userID)]?.membership, ["join", "invite", "knock"].contains(membership) { return true }
        if joinRule == "restricted" || joinRule == "knock_restricted" {
            for condition in state[.joinRules]?.content["allow"]?.arrayValue ?? [] {
                if let allowed = condition["room_id"]?.stringValue,
                    try await storage.membership(roomID: allowed, userID: userID)?.membership == "join"
                {
                    return true
                }
            }
        }
        return false
    }

    /// The `PublicRoomsChunk` fields of a room.
    func chunk(roomID: String, state: [StateKey: PDU]) async throws -> JSONObject {
        var entry: JSONObject = [
            "room_id": .string(roomID),
            "num_joined_members": .int(Int64(state.values.filter { $0.membership == "join" }.count)),
            "world_readable": .bool(state[.historyVisibility]?.content["history_visibility"] == "world_readable"),
            "guest_can_join": .bool(state[StateKey("m.room.guest_access", "")]?.content["guest_access"] == "can_join"),
            "join_rule": .string(state[.joinRules]?.content["join_rule"]?.stringValue ?? "invite"),
        ]
        if let name = state[StateKey("m.room.name", "")]?.content["name"]?.stringValue { entry["name"] = .string(name) }
        if let topic = state[StateKey("m.room.topic", "")]?.content["topic"]?.stringValue { entry["topic"] = .string(topic) }
        if let alias = state[StateKey("m.room.canonical_alias", "")]?.content["alias"]?.stringValue { entry["canonical_alias"] = .string(alias) }
        if let avatar = state[StateKey("m.room.avatar", "")]?.content["url"]?.stringValue { entry["avatar_url"] = .string(avatar) }
        if let type = state[.create]?.content["type"]?.stringValue { entry["room_type"] = .string(type) }
        return entry
    }

    /// A federation chunk as clients see it: `allowed_room_ids` is for servers only.
    static func clientChunk(_ chunk: JSONObject) -> JSONObject {
        var chunk = chunk
        chunk["allowed_room_ids"] = nil
        return chunk
    }

    private func hierarchy(_ request: MatrixRequest) async throws -> MatrixResponse {
        let rootID = try roomIDParameter(request)
        let userID = request.user.userID
        let maxDepth = request.query("max_depth").flatMap(Int.init) ?? 10
        let suggestedOnly = request.query("suggested_only") == "true"
        var limit = 50
        if let text = request.query("limit") {
            guard let value = Int(text), value > 0 else { throw MatrixError.invalidParam("'limit' must be a positive integer") }
            limit = min(value, 100)
        }
        let offset = try Self.pageOffset(request.query("from"), prefix: "h")
        let rootState = try await storage.currentState(roomID: rootID)
        let rootVisible = try await rootState.isEmpty ? true : canPreview(state: rootState, userID: userID)
        guard rootVisible else {
            throw MatrixError.forbidden("You cannot see this space")
        }
        // Breadth-first over m.space.child events, skipping rooms seen before and rooms the
        // user may not preview.
        var queue: [(roomID: String, depth: Int, via: [String])] = [(rootID, 0, [])]
        var seen: Set<String> = [rootID]
        var entries: [JSON] = []
        // Rooms this server does not have are asked of servers in the room: their answers
        // carry the next level's chunks too, so one request covers a room and its children.
        var remoteChunks: [String: JSONObject] = [:]
        var remoteRequests = 0
        while !queue.isEmpty, entries.count < offset + limit + 1 {
            let (roomID, depth, via) = queue.removeFirst()
            let state = roomID == rootID ? rootState : try await storage.currentState(roomID: roomID)
            if state.isEmpty {
                var remote = remoteChunks[roomID]
                if remote == nil, remoteRequests < Self.maxRemoteHierarchyRequests {
                    remoteRequests += 1
                    if let answer = await remoteHierarchy(
                        roomID: roomID, servers: Self.candidateServers(roomID: roomID, via: via), userID: userID, suggestedOnly: suggestedOnly)
                    {
                        remote = answer.room
                        for child in answer.children { if let id = child["room_id"]?.stringValue { remoteChunks[id] = child } }
                    }
                }
                guard let remote else { continue }
                for child in remote["children_state"]?.arrayValue ?? [] {
                    guard let childID = child["state_key"]?.stringValue, depth < maxDepth, seen.insert(childID).inserted else { continue }
                    queue.append((childID, depth + 1, (child["content"]?["via"]?.arrayValue ?? []).compactMap(\.stringValue)))
                }
                entries.append(.object(Self.clientChunk(remote)))
                continue
            }
            guard try await canPreview(state: state, userID: userID) else { continue }
            var children: [JSON] = []
            for (key, event) in state where key.type == "m.space.child" {
                guard event.content["via"]?.arrayValue?.isEmpty == false else { continue }
                if suggestedOnly, event.content["suggested"] != .bool(true) { continue }
                var stripped = ClientEventFormat.stripped(event)
                stripped["origin_server_ts"] = .int(event.originServerTS)
                children.append(stripped)
                if depth < maxDepth, seen.insert(key.stateKey).inserted {
                    queue.append((key.stateKey, depth + 1, (event.content["via"]?.arrayValue ?? []).compactMap(\.stringValue)))
                }
            }
            var entry = try await chunk(roomID: roomID, state: state)
            entry["children_state"] = .array(children)
            entries.append(.object(entry))
        }
        if rootState.isEmpty, entries.isEmpty { throw MatrixError.notFound("No server in the room could show this space") }
        var response: JSONObject = ["rooms": .array(Array(entries.dropFirst(offset).prefix(limit)))]
        if entries.count > offset + limit { response["next_batch"] = .string("h\(offset + limit)") }
        return .ok(.object(response))
    }
}
