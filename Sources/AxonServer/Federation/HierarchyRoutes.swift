import AxonStorage
import MatrixModel

/// Spaces and room previews across servers (spec server-server "Spaces"):
/// `/_matrix/federation/v1/hierarchy/{roomId}` answered for rooms another server's users may
/// preview, and asked of other servers for rooms (and space children) this server does not
/// have, for `/hierarchy` and `/room_summary`.
extension ServerContext {
    /// At most this many servers are asked per client request: a space listing hundreds of
    /// remote children must not turn one request into hundreds.
    static let maxRemoteHierarchyRequests = 8

    func registerFederationHierarchyRoutes(on routes: RouteTable) {
        routes.add(.get, "/_matrix/federation/v1/hierarchy/{roomId}", auth: .server) { request in
            let roomID = request.parameter("roomId")
            let origin = request.origin ?? ""
            let suggestedOnly = request.query("suggested_only") == "true"
            let state = try await storage.currentState(roomID: roomID)
            guard !state.isEmpty, try await serverMayPreview(origin, state: state) else {
                throw MatrixError.notFound("Room not found or not previewable")
            }
            let room = try await federationChunk(roomID: roomID, state: state, suggestedOnly: suggestedOnly)
            var children: [JSON] = []
            var inaccessible: [JSON] = []
            for child in (room["children_state"]?.arrayValue ?? []).compactMap({ $0["state_key"]?.stringValue }) {
                let childState = try await storage.currentState(roomID: child)
                guard !childState.isEmpty else { continue }
                if try await serverMayPreview(origin, state: childState) {
                    children.append(.object(try await federationChunk(roomID: child, state: childState, suggestedOnly: suggestedOnly)))
                } else {
                    inaccessible.append(.string(child))
                }
            }
            return .ok(["room": .object(room), "children": .array(children), "inaccessible_children": .array(inaccessible)])
        }
    }

    /// World-readable, publicly joinable or knockable rooms, rooms with a user of that server
    /// in or invited, and restricted rooms (whose `allowed_room_ids` the asking server checks
    /// for its own users).
    private func serverMayPreview(_ server: String, state: [StateKey: PDU]) async throws -> Bool {
        if state[.historyVisibility]?.content["history_visibility"] == "world_readable" { return true }
        let joinRule = state[.joinRules]?.content["join_rule"]?.stringValue ?? "invite"
        if ["public", "knock", "restricted", "knock_restricted"].contains(joinRule) { return true }
        return state.contains { key, event in
            key.type == "m.room.member" && UserID(key.stateKey)?.server.value == server && ["join", "invite"].contains(event.membership ?? "")
        }
    }

    private func federationChunk(roomID: String, state: [StateKey: PDU], suggestedOnly: Bool) async throws -> JSONObject {
        var entry = try await chunk(roomID: roomID, state: state)
        var children: [JSON] = []
        for (key, event) in state where key.type == "m.space.child" && event.content["via"]?.arrayValue?.isEmpty == false {
            if suggestedOnly, event.content["suggested"] != .bool(true) { continue }
            var stripped = ClientEventFormat.stripped(event)
            stripped["origin_server_ts"] = .int(event.originServerTS)
            children.append(stripped)
        }
        entry["children_state"] = .array(children)
        let joinRule = state[.joinRules]?.content["join_rule"]?.stringValue
        if joinRule == "restricted" || joinRule == "knock_restricted" {
            entry["allowed_room_ids"] = .array(
                (state[.joinRules]?.content["allow"]?.arrayValue ?? []).compactMap { $0["room_id"]?.stringValue }.map(JSON.string))
        }
        if let version = try await storage.room(id: roomID)?.version { entry["room_version"] = .string(version.identifier) }
        if let algorithm = state[StateKey("m.room.encryption", "")]?.content["algorithm"] { entry["encryption"] = algorithm }
        return entry
    }

    /// Another server's view of a room this server does not have: the room's chunk and its
    /// children's, from the first of `servers` that answers. Restricted rooms count only when
    /// the user is joined to one of the allowed rooms here.
    func remoteHierarchy(roomID: String, servers: [String], userID: String?, suggestedOnly: Bool) async -> (room: JSONObject, children: [JSONObject])? {
        let path = "/_matrix/federation/v1/hierarchy/\(PercentEncoding.component(roomID))" + (suggestedOnly ? "?suggested_only=true" : "")
        for server in servers.prefix(3) where federation.client.mayFederate(with: server) {
            guard let response = try? await federation.client.request(.GET, destination: server, path: path, timeout: .seconds(15)),
                response.status == 200, let room = response.json["room"]?.objectValue, room["room_id"]?.stringValue == roomID
            else { continue }
            guard await userMayPreview(room, userID: userID) else { return nil }
            var children: [JSONObject] = []
            for child in (response.json["children"]?.arrayValue ?? []).compactMap(\.objectValue) where await userMayPreview(child, userID: userID) {
                children.append(child)
            }
            return (room, children)
        }
        return nil
    }

    private func userMayPreview(_ chunk: JSONObject, userID: String?) async -> Bool {
        if chunk["world_readable"] == .bool(true) { return true }
        let joinRule = chunk["join_rule"]?.stringValue ?? "public"
        if ["public", "knock"].contains(joinRule) { return true }
        guard let userID, joinRule == "restricted" || joinRule == "knock_restricted" else { return false }
        for allowed in (chunk["allowed_room_ids"]?.arrayValue ?? []).compactMap(\.stringValue) {
            if (try? await storage.membership(roomID: allowed, userID: userID))??.membership == "join" { return true }
        }
        return false
    }

    /// The servers worth asking about a room: those the client named, the room ID's own (room
    /// versions before 12), and those in the `via` of the space child event that led here.
    static func candidateServers(roomID: String, via: [String]) -> [String] {
        var servers = via
        if let colon = roomID.firstIndex(of: ":") { servers.append(String(roomID[roomID.index(after: colon)...])) }
        var unique: [String] = []
        for server in servers where ServerName(server) != nil && !unique.contains(server) { unique.append(server) }
        return unique
    }
}
