import AxonStorage
import MatrixModel

/// Account data (seed account-data.yaml), room tags and read markers. Every write takes a
/// stream position and wakes the user's syncs.
extension ServerContext {
    /// Types the server maintains itself; clients set them through their own APIs.
    /// `m.fully_read` only exists per room (seed account-data.yaml), so it is refused globally too.
    static let serverManagedGlobalTypes: Set<String> = ["m.fully_read", "m.push_rules"]
    static let serverManagedRoomTypes: Set<String> = ["m.fully_read", "m.push_rules"]

    func registerAccountDataRoutes(on routes: RouteTable) {
        // Global and per-room account data differ only in the room and in the server-managed types.
        for perRoom in [false, true] {
            let path = perRoom ? "/user/{userId}/rooms/{roomId}/account_data/{type}" : "/user/{userId}/account_data/{type}"
            let managed = perRoom ? Self.serverManagedRoomTypes : Self.serverManagedGlobalTypes
            routes.client(.put, path) { request in
                let userID = try accountDataOwner(request)
                let roomID = perRoom ? try accountDataRoom(request) : nil
                let type = request.parameter("type")
                let content = try request.jsonObject()
                guard !managed.contains(type) else { throw MatrixError(405, "M_BAD_JSON", "Cannot set \(type) through this API.") }
                try await setAccountData(userID: userID, roomID: roomID, type: type, content: content)
                return .empty
            }
            routes.client(.get, path) { request in
                let userID = try accountDataOwner(request)
                let roomID = perRoom ? try accountDataRoom(request) : nil
                if !perRoom && request.parameter("type") == "m.push_rules" {
                    // Users who never changed a rule have the defaults, which are not stored.
                    return .ok(.object(try await pushRules(userID).json))
                }
                guard let content = try await storage.accountData(userID: userID, roomID: roomID, type: request.parameter("type")) else {
                    throw MatrixError.notFound(perRoom ? "Room account data not found." : "Account data not found.")
                }
                return .ok(content)
            }
        }
        routes.client(.get, "/user/{userId}/rooms/{roomId}/tags") { request in
            let userID = try accountDataOwner(request)
            let roomID = try accountDataRoom(request)
            let tags = try await storage.accountData(userID: userID, roomID: roomID, type: "m.tag")?["tags"] ?? .object([:])
            return .ok(["tags": tags])
        }
        routes.client(.put, "/user/{userId}/rooms/{roomId}/tags/{tag}") { request in
            let userID = try accountDataOwner(request)
            let roomID = try accountDataRoom(request)
            let body = try request.jsonObject()
            if let order = body.optional("order") {
                let value: Double? = order.intValue.map(Double.init) ?? { if case .double(let d) = order { return d } else { return nil } }()
                guard let value, value >= 0, value <= 1 else { throw MatrixError.badJSON("'order' must be a number between 0 and 1") }
            }
            try await updateTags(userID: userID, roomID: roomID) { $0[request.parameter("tag")] = body }
            return .empty
        }
        routes.client(.delete, "/user/{userId}/rooms/{roomId}/tags/{tag}") { request in
            let userID = try accountDataOwner(request)
            let roomID = try accountDataRoom(request)
            try await updateTags(userID: userID, roomID: roomID) { $0[request.parameter("tag")] = nil }
            return .empty
        }
        routes.client(.post, "/rooms/{roomId}/read_markers") { request in
            let roomID = try roomIDParameter(request)
            let body = try request.jsonObject()
            let userID = request.user.userID
            guard try await storage.membership(roomID: roomID, userID: userID)?.membership == "join" else {
                throw MatrixError.forbidden("You are not in this room")
            }
            if let fullyRead = try body.optionalString("m.fully_read") {
                _ = try await rooms.visibleEvent(roomID: roomID, eventID: fullyRead, userID: userID)
                try await setAccountData(userID: userID, roomID: roomID, type: "m.fully_read", content: ["event_id": .string(fullyRead)])
            }
            for receiptType in ["m.read", "m.read.private"] {
                if let eventID = try body.optionalString(receiptType) {
                    try await sendReceipt(request, roomID: roomID, type: receiptType, eventID: eventID, threadID: nil)
                }
            }
            return .empty
        }
    }

    func setAccountData(userID: String, roomID: String?, type: String, content: JSON) async throws {
        let position = try await storage.setAccountData(userID: userID, roomID: roomID, type: type, content: content)
        notifier.userChanged(userID, position: position)
    }

    private func accountDataOwner(_ request: MatrixRequest) throws(MatrixError) -> String {
        let userID = request.parameter("userId")
        guard userID == request.user.userID else {
            throw MatrixError.forbidden("Cannot access account data of other users.")
        }
        return userID
    }

    private func accountDataRoom(_ request: MatrixRequest) throws(MatrixError) -> String {
        let roomID = request.parameter("roomId")
        guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("\(roomID) is not a valid room ID.") }
        return roomID
    }

    /// Tags live in the `m.tag` room account data, so both APIs read the same thing.
    func updateTags(userID: String, roomID: String, _ change: (inout JSONObject) -> Void) async throws {
        var tags = try await storage.accountData(userID: userID, roomID: roomID, type: "m.tag")?["tags"]?.objectValue ?? [:]
        change(&tags)
        try await setAccountData(userID: userID, roomID: roomID, type: "m.tag", content: ["tags": .object(tags)])
    }
}
