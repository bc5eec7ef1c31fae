import AxonStorage
import MatrixModel

/// Invites from other servers (spec "Inviting to a room", invitee side): the event must be an
/// invite of a user of this server by a user of the origin, signed by the origin; Axon adds
/// its signature and answers with the event. If this server is not in the room, the invite is
/// kept with the room state the inviter sent (`RemoteMembership`), so the invitee's `/sync`
/// shows it; if it is, the event arrives again over `/send` and is placed in the graph there.
extension ServerContext {
    func registerInviteRoutes(on routes: RouteTable) {
        routes.add(.put, "/_matrix/federation/v2/invite/{roomId}/{eventId}", auth: .server) { request in
            let body = try request.jsonObject()
            guard let event = body.optional("event")?.objectValue, let versionID = try body.optionalString("room_version") else {
                throw MatrixError.badJSON("An invite needs 'event' and 'room_version'")
            }
            guard let version = RoomVersion(versionID), RoomVersion.supported.contains(version) else {
                throw MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", "Room version \(versionID) is not supported here", extra: [
                    "room_version": .string(versionID)
                ])
            }
            let stripped = body.optional("invite_room_state")?.arrayValue ?? []
            return .ok(["event": try await acceptInvite(event, version: version, stripped: stripped, request: request)])
        }
        // v1, for room versions 1 and 2: the body is the event, its stripped state in `unsigned`.
        routes.add(.put, "/_matrix/federation/v1/invite/{roomId}/{eventId}", auth: .server) { request in
            guard let event = try request.jsonObject().objectValue else { throw MatrixError.badJSON("The invite must be an event") }
            let roomID = try roomIDParameter(request)
            let version = try await storage.room(id: roomID)?.version ?? RoomVersion("1")!
            let stripped = event["unsigned"]?["invite_room_state"]?.arrayValue ?? []
            return .ok([200, ["event": try await acceptInvite(event, version: version, stripped: stripped, request: request)]])
        }
    }

    private func acceptInvite(_ object: JSONObject, version: RoomVersion, stripped: [JSON], request: MatrixRequest) async throws -> JSON {
        let roomID = try roomIDParameter(request)
        let origin = request.origin ?? ""
        var pdu: PDU
        do {
            pdu = try ReceivedPDU.parse(object, version: version, roomID: roomID)
        } catch {
            throw MatrixError.invalidParam(error.description)
        }
        guard pdu.eventID == request.parameter("eventId") else { throw MatrixError.invalidParam("The event ID does not match the event") }
        guard pdu.type == "m.room.member", pdu.membership == "invite" else { throw MatrixError.invalidParam("Not an invite") }
        try await RoomService.refuseBlocked(roomID, storage: storage)
        guard UserID(pdu.sender)?.server.value == origin else { throw MatrixError.invalidParam("The inviter is not a user of \(origin)") }
        guard let invitee = pdu.stateKey.flatMap(UserID.init), invitee.server == serverName else {
            throw MatrixError.invalidParam("The invitee is not a user of this server")
        }
        guard let account = try await storage.account(userID: invitee.description), !account.isDeactivated else {
            throw MatrixError.notFound("Unknown user \(invitee.description)")
        }
        if try await storage.room(id: roomID) != nil, !(await mayParticipate(origin, roomID: roomID)) {
            throw MatrixError.forbidden("The room's server ACL forbids \(origin)")
        }
        if version.roomIDIsCreateEventHash {
            // From v12 the room ID is the create event's hash: the create event sent along must be it.
            let create = stripped.first { $0["type"] == "m.room.create" }?.objectValue
            guard let create, (try? EventHashing.eventID(create, version: version)) == "$" + roomID.dropFirst() else {
                throw MatrixError.invalidParam("invite_room_state must hold the room's create event")
            }
        }
        do {
            pdu = try await pduReceiver.verified(pdu, version: version)
        } catch let failure as ReceivedPDU.Failure {
            throw MatrixError.invalidParam(failure.description)
        }
        let signed = try countersigned(pdu, version: version)
        if try await !RemoteMembership.hasState(roomID: roomID, storage: storage) {
            try await RemoteMembership(context: self).storeOutOfRoom(signed, version: version, stripped: stripped, key: "invite_room_state")
        }
        return .object(ServerVisibility.federationForm(signed).json)
    }

    /// The event with this server's signature added (over its redacted form, as every
    /// signature on a PDU is).
    func countersigned(_ pdu: PDU, version: RoomVersion) throws -> PDU {
        var json = pdu.json
        let signed = try JSONSigning.sign(Redaction.redact(pdu.json, version: version), server: serverName.value, key: signingKey)
        json["signatures"] = signed["signatures"]
        return PDU(eventID: pdu.eventID, json: json)
    }
}
