import AxonStorage
import MatrixModel

/// What `DELETE /_synapse/admin/v1|v2/rooms/{roomId}` asks for (Synapse's delete room API).
struct RoomShutdownRequest: Sendable {
    /// A local user who creates a room the members are moved to, and posts `message` there.
    var newRoomUserID: String?
    var roomName = "Content Violation Notification"
    var message = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
    var block = false
    var purge = true
    /// Purge even when some local member could not be made to leave.
    var forcePurge = false

    init(_ body: JSON, localServer: ServerName) throws {
        if let creator = try body.optionalString("new_room_user_id") {
            guard UserID(creator)?.server == localServer else { throw MatrixError.badJSON("'new_room_user_id' must be a local user") }
            newRoomUserID = creator
        }
        roomName = try body.optionalString("room_name") ?? roomName
        message = try body.optionalString("message") ?? message
        block = try body.optionalBool("block") ?? false
        purge = try body.optionalBool("purge") ?? true
        forcePurge = try body.optionalBool("force_purge") ?? false
    }

    var json: JSONObject {
        var object: JSONObject = [
            "room_name": .string(roomName), "message": .string(message), "block": .bool(block), "purge": .bool(purge),
            "force_purge": .bool(forcePurge),
        ]
        if let newRoomUserID { object["new_room_user_id"] = .string(newRoomUserID) }
        return object
    }
}

/// Shutting a room down: every local member leaves (and joins the replacement room, when
/// there is one), local aliases move there or go, the room leaves the directory, and its
/// history is purged. Remote members stay in their copies of the room; this server is gone
/// from it.
extension ServerContext {
    func shutdownRoom(_ roomID: String, admin: String, _ request: RoomShutdownRequest, purging: @Sendable () async throws -> Void = {})
        async throws -> JSONObject
    {
        if request.block { try await storage.setRoomBlock(roomID: roomID, by: admin) }
        var result: JSONObject = ["kicked_users": [], "failed_to_kick_users": [], "local_aliases": [], "new_room_id": .null]
        guard try await storage.room(id: roomID) != nil else { return result }
        var newRoomID: String?
        if let creator = request.newRoomUserID {
            guard let account = try await storage.account(userID: creator), !account.isDeactivated else {
                throw MatrixError.notFound("User \(creator) not found")
            }
            let owner = TokenOwner(userID: creator, deviceID: "", isGuest: false, isAdmin: account.isAdmin)
            let created = try await rooms.createRoom(
                ["preset": "public_chat", "name": .string(request.roomName), "power_level_content_override": ["users_default": -10]],
                creator: owner)
            _ = try await rooms.send(
                roomID: created,
                EventTemplate(type: "m.room.message", sender: creator, content: ["msgtype": "m.text", "body": .string(request.message)]))
            newRoomID = created
            result["new_room_id"] = .string(created)
        }
        try await storage.setPublic(roomID: roomID, isPublic: false)
        var kicked: [JSON] = []
        var failed: [JSON] = []
        for member in try await storage.members(roomID: roomID, membership: "join").map(\.userID).sorted()
        where UserID(member)?.server == serverName {
            do {
                _ = try await rooms.setMembership(roomID: roomID, sender: member, target: member, membership: "leave", reason: nil)
                if let newRoomID, member != request.newRoomUserID {
                    _ = try await rooms.setMembership(roomID: newRoomID, sender: member, target: member, membership: "join", reason: nil)
                }
                kicked.append(.string(member))
            } catch {
                logger.warning("could not remove a member from a room being shut down", metadata: ["user_id": "\(member)", "error": "\(error)"])
                failed.append(.string(member))
            }
        }
        result["kicked_users"] = .array(kicked)
        result["failed_to_kick_users"] = .array(failed)
        var aliases: [JSON] = []
        for alias in try await storage.aliases(roomID: roomID).sorted() {
            let creator = try await storage.aliasTarget(alias)?.creator ?? admin
            try await storage.deleteAlias(alias)
            if let newRoomID { try await storage.setAlias(alias, roomID: newRoomID, creator: creator) }
            aliases.append(.string(alias))
        }
        result["local_aliases"] = .array(aliases)
        if request.purge {
            guard failed.isEmpty || request.forcePurge else {
                throw MatrixError.unknown("Some local users are still in the room; purge with force_purge to remove it anyway")
            }
            try await purging()
            try await storage.purgeRoom(roomID: roomID)
            logger.info("purged room", metadata: ["room_id": "\(roomID)", "admin": "\(admin)"])
        }
        return result
    }
}
