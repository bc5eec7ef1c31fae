import AxonStorage
import MatrixModel
import ServiceLifecycle

/// Synapse's delete room API: v1 answers when the room is gone; v2 answers with a
/// `delete_id` at once and runs the deletion behind it, its status kept in storage so that
/// a restart resumes it.
extension ServerContext {
    func registerAdminRoomDeletionRoutes(on routes: RouteTable) {
        routes.add(.delete, "/_synapse/admin/v1/rooms/{roomId}") { request in
            let (roomID, shutdown) = try await deletion(request)
            return .ok(.object(try await shutdownRoom(roomID, admin: request.user.userID, shutdown)))
        }
        routes.add(.delete, "/_synapse/admin/v2/rooms/{roomId}") { request in
            let (roomID, shutdown) = try await deletion(request)
            let task = AdminRoomTask(
                id: RandomString.alphanumeric(16), kind: .delete, roomID: roomID, status: "shutting_down",
                result: ["request": .object(shutdown.json), "admin": .string(request.user.userID)], createdAt: nowMillis())
            try await storage.saveAdminRoomTask(task)
            Task { await runDeletion(task, shutdown) }
            return .ok(["delete_id": .string(task.id)])
        }
        routes.add(.get, "/_synapse/admin/v2/rooms/{roomId}/delete_status") { request in
            try requireAdmin(request)
            let tasks = try await storage.adminRoomTasks(roomID: request.parameter("roomId"), kind: .delete)
            guard !tasks.isEmpty else { throw MatrixError.notFound("No deletion of this room is known") }
            return .ok(["results": .array(tasks.map { .object(deletionStatus($0, withID: true)) })])
        }
        routes.add(.get, "/_synapse/admin/v2/rooms/delete_status/{deleteId}") { request in
            try requireAdmin(request)
            guard let task = try await storage.adminRoomTask(id: request.parameter("deleteId")), task.kind == .delete else {
                throw MatrixError.notFound("No deletion with this ID is known")
            }
            return .ok(.object(deletionStatus(task, withID: false)))
        }
    }

    private func deletion(_ request: MatrixRequest) async throws -> (String, RoomShutdownRequest) {
        try requireAdmin(request)
        let roomID = try adminRoomID(request)
        let shutdown = try RoomShutdownRequest(try request.jsonObject(), localServer: serverName)
        if try await storage.room(id: roomID) == nil, !shutdown.block { throw MatrixError.notFound("Unknown room \(roomID)") }
        if try await storage.adminRoomTasks(roomID: roomID, kind: .delete).contains(where: \.isUnfinished) {
            throw MatrixError.unknown("This room is already being deleted")
        }
        return (roomID, shutdown)
    }

    func runDeletion(_ task: AdminRoomTask, _ shutdown: RoomShutdownRequest) async {
        var task = task
        do {
            let admin = task.result?["admin"]?.stringValue ?? ""
            let result = try await shutdownRoom(task.roomID, admin: admin, shutdown) { [task] in
                var purging = task
                purging.status = "purging"
                try await storage.saveAdminRoomTask(purging)
            }
            task.status = "complete"
            task.result = ["shutdown_room": .object(result)]
        } catch {
            task.status = "failed"
            task.error = (error as? MatrixError)?.message ?? "\(error)"
            task.result = nil
        }
        do { try await storage.saveAdminRoomTask(task) } catch {
            logger.error("could not record a room deletion's outcome", metadata: ["delete_id": "\(task.id)", "error": "\(error)"])
        }
    }

    private func deletionStatus(_ task: AdminRoomTask, withID: Bool) -> JSONObject {
        var status: JSONObject = ["status": .string(task.status)]
        if withID { status["delete_id"] = .string(task.id) }
        if let error = task.error { status["error"] = .string(error) }
        status["shutdown_room"] = task.result?["shutdown_room"] ?? [
            "kicked_users": [], "failed_to_kick_users": [], "local_aliases": [], "new_room_id": .null,
        ]
        return status
    }
}

extension AdminRoomTask {
    var isUnfinished: Bool { status != "complete" && status != "failed" }
}

/// Resumes, at start, the room deletions, history purges and user redactions a stop
/// interrupted: each was acknowledged with an ID, so each still happens.
struct AdminRoomTaskResumer: Service {
    let context: ServerContext

    func run() async throws {
        for task in try await context.storage.unfinishedAdminRoomTasks() {
            context.logger.info("resuming an admin task", metadata: ["id": "\(task.id)", "kind": "\(task.kind.rawValue)"])
            switch task.kind {
            case .delete:
                guard let body = task.result?["request"]?.objectValue,
                    let shutdown = try? RoomShutdownRequest(.object(body), localServer: context.serverName)
                else { continue }
                await context.runDeletion(task, shutdown)
            case .purgeHistory:
                await context.runPurge(task)
            case .redactUser:
                await context.runRedaction(task)
            }
        }
        try? await gracefulShutdown()
    }
}
