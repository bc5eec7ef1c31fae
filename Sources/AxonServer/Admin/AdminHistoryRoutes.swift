import AxonStorage
import MatrixModel

/// Synapse's purge history and redact user APIs: both answer with an ID at once and run
/// behind it, their status kept in storage (`AdminRoomTask`) and resumed after a restart.
extension ServerContext {
    func registerAdminHistoryRoutes(on routes: RouteTable) {
        for path in ["/_synapse/admin/v1/purge_history/{roomId}", "/_synapse/admin/v1/purge_history/{roomId}/{eventId}"] {
            routes.add(.post, path) { request in
                try requireAdmin(request)
                let roomID = try await knownRoom(request)
                let body = try request.jsonObject()
                let before = try await purgeCutoff(request, body: body, roomID: roomID)
                let includeLocal = try body.optionalBool("delete_local_events") ?? false
                let task = AdminRoomTask(
                    id: RandomString.alphanumeric(16), kind: .purgeHistory, roomID: roomID, status: "active",
                    result: ["before_stream": .int(before), "delete_local_events": .bool(includeLocal)], createdAt: nowMillis())
                try await storage.saveAdminRoomTask(task)
                Task { await runPurge(task) }
                return .ok(["purge_id": .string(task.id)])
            }
        }
        routes.add(.get, "/_synapse/admin/v1/purge_history_status/{purgeId}") { request in
            try requireAdmin(request)
            guard let task = try await storage.adminRoomTask(id: request.parameter("purgeId")), task.kind == .purgeHistory else {
                throw MatrixError.notFound("No purge with this ID is known")
            }
            var status: JSONObject = ["status": .string(task.status)]
            if let error = task.error { status["error"] = .string(error) }
            return .ok(.object(status))
        }
        routes.add(.post, "/_synapse/admin/v1/user/{userId}/redact") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            let body = try request.jsonObject()
            let rooms = try body.optionalStringArray("rooms") ?? []
            guard rooms.allSatisfy({ RoomID($0) != nil }) else { throw MatrixError.invalidParam("'rooms' must hold room IDs") }
            let limit = try body.optionalInt("limit") ?? 1000
            guard limit > 0 else { throw MatrixError.invalidParam("'limit' must be a positive integer") }
            var params: JSONObject = [
                "user_id": .string(userID), "rooms": .array(rooms.map(JSON.string)), "limit": .int(limit), "admin": .string(request.user.userID),
            ]
            if let reason = try body.optionalString("reason") { params["reason"] = .string(reason) }
            let task = AdminRoomTask(id: RandomString.alphanumeric(16), kind: .redactUser, roomID: "", status: "scheduled", result: params, createdAt: nowMillis())
            try await storage.saveAdminRoomTask(task)
            Task { await runRedaction(task) }
            return .ok(["redact_id": .string(task.id)])
        }
        routes.add(.get, "/_synapse/admin/v1/user/redact_status/{redactId}") { request in
            try requireAdmin(request)
            guard let task = try await storage.adminRoomTask(id: request.parameter("redactId")), task.kind == .redactUser else {
                throw MatrixError.notFound("No redaction with this ID is known")
            }
            var status: JSONObject = ["status": .string(task.status), "failed_redactions": task.result?["failed_redactions"] ?? [:]]
            if let error = task.error { status["error"] = .string(error) }
            return .ok(.object(status))
        }
    }

    /// The stream position history is purged before: an event (path or
    /// `purge_up_to_event_id`, itself kept) or a time (`purge_up_to_ts`).
    private func purgeCutoff(_ request: MatrixRequest, body: JSON, roomID: String) async throws -> Int64 {
        if let eventID = try request.optionalParameter("eventId") ?? body.optionalString("purge_up_to_event_id") {
            guard let event = try await storage.event(id: eventID), event.roomID == roomID else {
                throw MatrixError.notFound("Event \(eventID) is not in room \(roomID)")
            }
            return event.streamPosition
        }
        guard let ts = try body.optionalInt("purge_up_to_ts") else {
            throw MatrixError.missingParam("Give 'purge_up_to_event_id' or 'purge_up_to_ts'")
        }
        var cursor: TopologicalPosition?
        while true {
            let page = try await storage.roomEvents(roomID: roomID, from: cursor, direction: .forward, limit: 500)
            if let first = page.first(where: { $0.pdu.originServerTS >= ts }) { return first.streamPosition }
            guard page.count == 500, let last = page.last else { return try await storage.currentStreamPosition() + 1 }
            cursor = TopologicalPosition(depth: last.pdu.depth, stream: last.streamPosition)
        }
    }

    func runPurge(_ task: AdminRoomTask) async {
        var task = task
        do {
            let deleted = try await storage.purgeHistory(
                roomID: task.roomID, before: task.result?["before_stream"]?.intValue ?? 0, localServer: serverName.value,
                includeLocal: task.result?["delete_local_events"]?.boolValue ?? false)
            task.status = "complete"
            logger.info("purged room history", metadata: ["room_id": "\(task.roomID)", "events": "\(deleted)"])
        } catch {
            task.status = "failed"
            task.error = (error as? MatrixError)?.message ?? "\(error)"
        }
        await record(task)
    }

    /// Redacts the user's timeline events (state stays: redacting it could break the room),
    /// newest first up to `limit` per room, each redaction sent by a local member who may
    /// redact it: the admin, else the most powerful local member, else the user.
    func runRedaction(_ task: AdminRoomTask) async {
        var task = task
        var params = task.result ?? [:]
        let userID = params["user_id"]?.stringValue ?? ""
        let admin = params["admin"]?.stringValue ?? ""
        let limit = Int(params["limit"]?.intValue ?? 1000)
        var failed = params["failed_redactions"]?.objectValue ?? [:]
        task.status = "active"
        await record(task)
        do {
            var roomIDs = (params["rooms"]?.arrayValue ?? []).compactMap(\.stringValue)
            if roomIDs.isEmpty { roomIDs = try await storage.memberships(userID: userID).map(\.roomID) }
            for roomID in roomIDs where try await storage.room(id: roomID) != nil {
                for event in try await eventsSent(by: userID, in: roomID, limit: limit) where event.redactedBecause == nil {
                    do {
                        let redactor = try await redactor(in: roomID, of: userID, preferring: admin)
                        try await rooms.checkRedaction(roomID: roomID, eventID: event.pdu.eventID, by: redactor)
                        var content: JSONObject = [:]
                        if let reason = params["reason"] { content["reason"] = reason }
                        if try await storage.room(id: roomID)?.version.redactsInContent ?? true { content["redacts"] = .string(event.pdu.eventID) }
                        _ = try await rooms.send(
                            roomID: roomID,
                            EventTemplate(type: "m.room.redaction", sender: redactor, content: .object(content), redacts: event.pdu.eventID))
                    } catch {
                        failed[event.pdu.eventID] = .string((error as? MatrixError)?.message ?? "\(error)")
                    }
                }
            }
            task.status = "complete"
        } catch {
            task.status = "failed"
            task.error = (error as? MatrixError)?.message ?? "\(error)"
        }
        params["failed_redactions"] = .object(failed)
        task.result = params
        await record(task)
    }

    private func eventsSent(by userID: String, in roomID: String, limit: Int) async throws -> [StoredEvent] {
        var found: [StoredEvent] = []
        var cursor: TopologicalPosition?
        while found.count < limit {
            let page = try await storage.roomEvents(roomID: roomID, from: cursor, direction: .backward, limit: 500)
            found += page.filter { $0.pdu.sender == userID && $0.pdu.stateKey == nil && $0.pdu.type != "m.room.redaction" }
            guard page.count == 500, let last = page.last else { break }
            cursor = TopologicalPosition(depth: last.pdu.depth, stream: last.streamPosition)
        }
        return Array(found.prefix(limit))
    }

    private func redactor(in roomID: String, of userID: String, preferring admin: String) async throws -> String {
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Room not found") }
        let state = try await storage.currentState(roomID: roomID)
        let levels = PowerLevels(content: state[StateKey("m.room.power_levels", "")]?.content, create: state[.create], version: room.version)
        let members = state.values.compactMap { event -> String? in
            guard event.type == "m.room.member", event.membership == "join", let user = event.stateKey, UserID(user)?.server == serverName
            else { return nil }
            return user
        }
        if members.contains(admin), levels.userLevel(admin) >= levels.redact { return admin }
        if let strongest = members.filter({ levels.userLevel($0) >= levels.redact }).max(by: { levels.userLevel($0) < levels.userLevel($1) }) {
            return strongest
        }
        guard members.contains(userID) else { throw MatrixError.forbidden("No local member of \(roomID) may redact these events") }
        return userID
    }

    private func record(_ task: AdminRoomTask) async {
        do { try await storage.saveAdminRoomTask(task) } catch {
            logger.error("could not record an admin task's progress", metadata: ["id": "\(task.id)", "error": "\(error)"])
        }
    }
}
