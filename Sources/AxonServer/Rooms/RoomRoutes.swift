import AxonStorage
import Hummingbird
import MatrixModel

/// Creating rooms and sending events into them.
extension ServerContext {
    /// What a shadow-banned user is told of an event they send: an event ID, after about
    /// as long as a real send takes. The event is never made, so it reaches no one.
    func shadowBanAnswer(_ request: MatrixRequest) async -> MatrixResponse? {
        guard request.user.isShadowBanned else { return nil }
        try? await Task.sleep(for: .milliseconds(Int.random(in: 5...50)))
        return .ok(["event_id": .string("$" + RandomString.alphanumeric(43))])
    }

    /// `ts` on a send from an application service (bridged messages keep their time);
    /// ignored from anyone else, as the spec has it.
    func massagedTimestamp(_ request: MatrixRequest) throws(MatrixError) -> Int64? {
        guard request.user.appServiceID != nil, request.query("ts") != nil else { return nil }
        return Int64(try request.integerQuery("ts", default: 0, maximum: Int.max))
    }

    func registerRoomRoutes(on routes: RouteTable) {
        routes.client(.post, "/createRoom", rateLimit: .message) { request in
            var body = try request.jsonObject()
            if let name = body["room_alias_name"]?.stringValue { try appServices.checkAlias("#\(name):\(serverName)", caller: request.user.appServiceID) }
            // A shadow-banned user's room is made, but no one is invited to it.
            if request.user.isShadowBanned, var object = body.objectValue {
                for key in ["invite", "invite_3pid"] { object[key] = nil }
                body = .object(object)
            }
            let roomID = try await rooms.createRoom(body, creator: request.user)
            return .ok(["room_id": .string(roomID)])
        }
        // The r0-era POST form has no transaction ID, so it is not idempotent; Synapse still
        // serves it and some clients still use it.
        for (method, path) in [(HTTPRequest.Method.put, "/rooms/{roomId}/send/{eventType}/{txnId}"), (.post, "/rooms/{roomId}/send/{eventType}")] {
            routes.client(method, path, auth: .required(allowGuests: true), rateLimit: .message) { request in
                let roomID = try roomIDParameter(request)
                let type = request.parameter("eventType")
                let content = try request.jsonObject()
                if type == "m.room.redaction" { throw MatrixError.badJSON("Use the /redact endpoint to redact events") }
                if let unsent = await shadowBanAnswer(request) { return unsent }
                var template = EventTemplate(type: type, sender: request.user.userID, content: content)
                template.timestamp = try massagedTimestamp(request)
                let eventID = try await rooms.send(
                    roomID: roomID, template, transaction: method == .put ? transactionKey(request, scope: "send") : nil)
                return .ok(["event_id": .string(eventID)])
            }
        }
        for path in ["/rooms/{roomId}/state/{eventType}", "/rooms/{roomId}/state/{eventType}/{stateKey}"] {
            routes.client(.put, path, rateLimit: .message) { request in
                let roomID = try roomIDParameter(request)
                let type = request.parameter("eventType")
                let content = try request.jsonObject()
                if type == "m.room.member" {
                    return .ok(["event_id": .string(try await memberStateChange(request, roomID: roomID, content: content))])
                }
                if let unsent = await shadowBanAnswer(request) { return unsent }
                if type == "m.room.canonical_alias", request.parameter("stateKey").isEmpty {
                    try await checkCanonicalAlias(content, roomID: roomID)
                }
                var template = EventTemplate(type: type, stateKey: request.parameter("stateKey"), sender: request.user.userID, content: content)
                template.timestamp = try massagedTimestamp(request)
                let eventID = try await rooms.send(roomID: roomID, template)
                return .ok(["event_id": .string(eventID)])
            }
        }
        routes.client(.put, "/rooms/{roomId}/redact/{eventId}/{txnId}", rateLimit: .message) { request in
            let roomID = try roomIDParameter(request)
            let eventID = request.parameter("eventId")
            guard EventID(eventID) != nil else { throw MatrixError.invalidParam("Invalid event ID") }
            var content = try request.jsonObject().objectValue ?? [:]
            if let unsent = await shadowBanAnswer(request) { return unsent }
            try await rooms.checkRedaction(roomID: roomID, eventID: eventID, by: request.user.userID)
            let version = try await storage.room(id: roomID)?.version
            if version?.redactsInContent ?? true { content["redacts"] = .string(eventID) }
            let redaction = try await rooms.send(
                roomID: roomID,
                EventTemplate(type: "m.room.redaction", sender: request.user.userID, content: .object(content), redacts: eventID),
                transaction: transactionKey(request, scope: "redact"))
            return .ok(["event_id": .string(redaction)])
        }
        routes.client(.post, "/rooms/{roomId}/upgrade", rateLimit: .message) { request in
            let roomID = try roomIDParameter(request)
            let body = try request.jsonObject()
            let versionName = try body.requiredString("new_version")
            guard let version = RoomVersion(versionName) else {
                throw MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", "Room version \(versionName) is not supported")
            }
            let additional = try body.optionalStringArray("additional_creators") ?? []
            for creator in additional where UserID(creator) == nil {
                throw MatrixError.invalidParam("'\(creator)' is not a user ID")
            }
            let replacement = try await rooms.upgrade(roomID: roomID, to: version, additionalCreators: additional, user: request.user)
            return .ok(["replacement_room": .string(replacement)])
        }
        routes.client(.get, "/joined_rooms") { request in
            let joined = try await storage.memberships(userID: request.user.userID).filter { $0.membership == "join" }
            return .ok(["joined_rooms": .array(joined.map { .string($0.roomID) })])
        }
    }

    func roomIDParameter(_ request: MatrixRequest, _ name: String = "roomId") throws(MatrixError) -> String {
        let roomID = request.parameter(name)
        guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("'\(roomID)' is not a valid room ID") }
        return roomID
    }


    func transactionKey(_ request: MatrixRequest, scope: String) -> TransactionKey {
        TransactionKey(
            userID: request.user.userID, deviceID: request.user.deviceID, scope: "\(scope):\(RouteTable.unversionedClientPath(request.path))",
            transactionID: request.parameter("txnId"))
    }

    /// Membership changes through the state API are allowed, through the same membership
    /// logic as the dedicated endpoints (the auth rules decide), with a valid membership value.
    private func memberStateChange(_ request: MatrixRequest, roomID: String, content: JSON) async throws -> String {
        guard let membership = content["membership"]?.stringValue,
            ["join", "invite", "leave", "ban", "knock"].contains(membership)
        else { throw MatrixError.badJSON("m.room.member content needs a valid membership") }
        let target = request.parameter("stateKey")
        guard UserID(target) != nil else { throw MatrixError.badJSON("m.room.member state key must be a user ID") }
        var extra = content.objectValue ?? [:]
        let reason = try content.optionalString("reason")
        extra["reason"] = nil
        return try await rooms.setMembership(
            roomID: roomID, sender: request.user.userID, target: target, membership: membership, reason: reason, extra: extra)
    }
}
