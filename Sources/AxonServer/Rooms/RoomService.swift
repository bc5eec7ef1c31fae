import AxonStorage
import MatrixModel

/// Rooms: creation, sending, membership and redaction, all through the event pipeline.
struct RoomService: Sendable {
    let storage: any Storage
    let serverName: ServerName
    let writer: RoomEventWriter
    let visibility: HistoryVisibility
    let notifier: Notifier
    /// Woken when an event was queued for other servers.
    let federationSender: FederationSender
    let pushGateway: PushGateway

    var aggregations: BundledAggregations { BundledAggregations(storage: storage, visibility: visibility) }

    /// A room ID, or an alias resolved to one (404 when unknown).
    func resolve(_ roomIDOrAlias: String) async throws -> String {
        if roomIDOrAlias.hasPrefix("#") {
            guard RoomAlias(roomIDOrAlias) != nil else { throw MatrixError.invalidParam("Invalid room alias") }
            guard let target = try await storage.aliasTarget(roomIDOrAlias) else {
                throw MatrixError.notFound("Room alias \(roomIDOrAlias) not found")
            }
            return target.roomID
        }
        guard RoomID(roomIDOrAlias) != nil else { throw MatrixError.invalidParam("Invalid room ID") }
        return roomIDOrAlias
    }

    /// Sends an event through the pipeline, idempotently when a transaction key is given.
    @discardableResult
    func send(roomID: String, _ template: EventTemplate, transaction: TransactionKey? = nil) async throws -> String {
        let writer = self.writer
        var template = template
        if let room = try await storage.room(id: roomID) {
            var event: JSONObject = [
                "type": .string(template.type), "sender": .string(template.sender), "content": template.content,
                "room_id": .string(roomID), "origin_server_ts": .int(nowMillis()),
            ]
            if let stateKey = template.stateKey { event["state_key"] = .string(stateKey) }
            template.pushDecisions = try await PushActionRecorder.decide(
                event: event, roomID: roomID, version: room.version, storage: storage, localServer: serverName.value)
        }
        let prepared = template
        @Sendable func earlier(_ tx: any RoomWriteTransaction) async throws -> String? {
            guard tx.room != nil else { throw MatrixError.forbidden("You are not in room \(roomID)") }
            if let transaction, let earlier = try await tx.eventIDForTransaction(transaction) { return earlier }
            // Setting state to exactly what the same sender already set makes no new event
            // (as Synapse does): clients retry joins and re-send unchanged settings.
            if let stateKey = prepared.stateKey, let current = try await tx.currentStateEvent(StateKey(prepared.type, stateKey)),
                current.sender == prepared.sender, current.content == prepared.content
            {
                return current.eventID
            }
            return nil
        }
        // Signatures other servers must add (a remote invitee's, a policy server's) are asked
        // for between two short transactions, not while the writer is held; a draft overtaken
        // by other events meanwhile is drafted again, and after that signed inside the writer.
        // Most events need none: they are stored in one go, and only a policy server found
        // while building one sends it down the longer way.
        if !Self.isRemoteInvite(prepared, own: serverName) {
            do {
                return try await store(roomID: roomID, prepared, transaction: transaction, presigned: nil, signInline: false, earlier: earlier)
            } catch is RoomEventWriter.NeedsExternalSignatures {}
        }
        enum Draft: Sendable {
            case draft(PDU, RoomEventWriter.ExternalSignatures, RoomVersion)
            case alreadySent(String)
        }
        for _ in 0..<Self.draftAttempts {
            let drafted: Draft = try await storage.writeRoom(roomID: roomID) { tx in
                if let eventID = try await earlier(tx) { return .alreadySent(eventID) }
                guard let room = tx.room else { throw MatrixError.forbidden("You are not in room \(roomID)") }
                let (pdu, needs) = try await writer.draft(prepared, in: tx)
                return .draft(pdu, needs, room.version)
            }
            guard case .draft(let pdu, let needs, let version) = drafted else {
                if case .alreadySent(let eventID) = drafted { return eventID }
                break
            }
            let signed = try await writer.signExternally(pdu, needs: needs, version: version)
            do {
                return try await store(roomID: roomID, prepared, transaction: transaction, presigned: signed, earlier: earlier)
            } catch is RoomEventWriter.StaleDraft {
                continue
            }
        }
        return try await store(roomID: roomID, prepared, transaction: transaction, presigned: nil, earlier: earlier)
    }

    static let draftAttempts = 3

    static func isRemoteInvite(_ template: EventTemplate, own: ServerName) -> Bool {
        template.type == "m.room.member" && template.content["membership"] == "invite"
            && template.stateKey.flatMap(UserID.init).map { $0.server != own } == true
    }

    private func store(
        roomID: String, _ prepared: EventTemplate, transaction: TransactionKey?, presigned: PDU?, signInline: Bool = true,
        earlier: @escaping @Sendable (any RoomWriteTransaction) async throws -> String?
    ) async throws -> String {
        enum Outcome: Sendable {
            case sent(StoredEvent)
            case alreadySent(String)
        }
        let writer = self.writer
        let outcome: Outcome = try await storage.writeRoom(roomID: roomID) { tx in
            if let eventID = try await earlier(tx) { return .alreadySent(eventID) }
            let event = try await writer.append(prepared, in: tx, transaction: transaction, presigned: presigned, signInline: signInline)
            try await Self.applyRedaction(event, in: tx)
            return .sent(event)
        }
        switch outcome {
        case .alreadySent(let eventID):
            return eventID
        case .sent(let stored):
            notify(stored)
            if stored.pdu.type == "m.room.guest_access", stored.pdu.stateKey == "", stored.pdu.content["guest_access"] != "can_join" {
                try await removeGuests(roomID: roomID)
            }
            return stored.pdu.eventID
        }
    }

    func notify(_ event: StoredEvent) {
        notifier.roomChanged(event.roomID, position: event.streamPosition)
        pushGateway.eventPersisted(event)
        federationSender.wake()
        if let target = event.pdu.stateKey, event.pdu.type == "m.room.member" {
            // The target learns of a room they are not yet watching (an invite, a join elsewhere).
            notifier.userChanged(target, position: event.streamPosition)
        }
    }

    /// A client may redact its own events, and others' only with the redact power level
    /// (client-server spec, "Redactions"): anything else is refused before an event is made,
    /// since clients apply a redaction they receive. An event of another room is not found.
    func checkRedaction(roomID: String, eventID: String, by userID: String) async throws {
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.forbidden("You are not in room \(roomID)") }
        let target = try await storage.event(id: eventID)
        if let target, target.roomID != roomID { throw MatrixError.notFound("Event \(eventID) is not in this room") }
        if let target, target.pdu.sender == userID { return }
        let levels = PowerLevels(
            content: try await storage.currentStateEvent(roomID: roomID, key: .powerLevels)?.content,
            create: try await storage.currentStateEvent(roomID: roomID, key: .create), version: room.version)
        guard levels.userLevel(userID) >= levels.redact else {
            throw MatrixError.forbidden("You may redact only your own events in this room")
        }
    }

    /// Spec "Handling redactions": the target is pruned when the redaction's sender is the
    /// target's sender or has the redact power level. Otherwise the redaction is kept but the
    /// target is untouched (clients may still hide it).
    static func applyRedaction(_ event: StoredEvent, in tx: any RoomWriteTransaction) async throws {
        guard let targetID = event.pdu.redacts, let target = try await tx.event(id: targetID), target.roomID == event.roomID,
            target.redactedBecause == nil, let room = tx.room
        else { return }
        if target.pdu.sender != event.pdu.sender {
            let levels = PowerLevels(
                content: try await tx.currentStateEvent(.powerLevels)?.content, create: try await tx.currentStateEvent(.create),
                version: room.version)
            guard levels.userLevel(event.pdu.sender) >= levels.redact else { return }
        }
        var redacted = Redaction.redact(target.pdu.json, version: room.version)
        redacted["unsigned"] = [
            "redacted_because": ClientEventFormat.json(event, viewer: nil, version: room.version, now: event.pdu.originServerTS)
        ]
        try await tx.markRedacted(eventID: targetID, redactedJSON: redacted, by: event.pdu.eventID)
    }

    /// The one way a membership changes (join, invite, leave, kick, ban, unban, knock, and
    /// member state sent through the state API): `extra` is the client's own content, kept
    /// except for the keys the server alone decides. `join_authorised_via_users_server` is
    /// never taken from a client; it is set here, and only after the restricted room's allow
    /// conditions were checked for this user.
    func setMembership(
        roomID: String, sender: String, target: String, membership: String, reason: String?, extra: JSONObject = [:]
    ) async throws -> String {
        guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room \(roomID)") }
        if ["join", "invite", "knock"].contains(membership) { try await Self.refuseBlocked(roomID, storage: storage) }
        var content = extra
        content["membership"] = .string(membership)
        content["join_authorised_via_users_server"] = nil
        if let reason { content["reason"] = .string(reason) }
        if membership == "join", sender == target,
            let via = try await restrictedJoinAuthoriser(roomID: roomID, userID: target)
        {
            content["join_authorised_via_users_server"] = .string(via)
        }
        if membership == "join" || membership == "invite" || membership == "knock",
            let profile = try await storage.account(userID: target)?.profile
        {
            // The user's profile, unless the content names its own (a per-room nickname).
            if content["displayname"] == nil, let name = profile["displayname"] { content["displayname"] = name }
            if content["avatar_url"] == nil, let avatar = profile["avatar_url"] { content["avatar_url"] = avatar }
        }
        return try await send(
            roomID: roomID, EventTemplate(type: "m.room.member", stateKey: target, sender: sender, content: .object(content)))
    }

    /// A room an admin blocked takes no one in, local or remote (Synapse's room blocking).
    static func refuseBlocked(_ roomID: String, storage: any Storage) async throws {
        if try await storage.roomBlock(roomID: roomID) != nil { throw MatrixError.forbidden("This room has been blocked on this server") }
    }

    /// Guests may stay only while the room lets them join (spec "Guest access"): when
    /// `guest_access` stops being `can_join`, each joined guest leaves.
    func removeGuests(roomID: String) async throws {
        for member in try await storage.members(roomID: roomID, membership: "join") {
            guard UserID(member.userID)?.server == serverName, try await storage.account(userID: member.userID)?.isGuest == true else { continue }
            _ = try? await setMembership(
                roomID: roomID, sender: member.userID, target: member.userID, membership: "leave", reason: "Guest access was turned off")
        }
    }

    /// For a restricted room the user may join through membership of an allowed room: a joined
    /// local member who may invite, to name in `join_authorised_via_users_server`. Nil when the
    /// join needs no authoriser (public rooms, invited users) or none qualifies.
    func restrictedJoinAuthoriser(roomID: String, userID: String) async throws -> String? {
        guard let room = try await storage.room(id: roomID),
            let rules = try await storage.currentStateEvent(roomID: roomID, key: .joinRules)?.content,
            let rule = rules["join_rule"]?.stringValue, rule == "restricted" || rule == "knock_restricted"
        else { return nil }
        if let current = try await storage.membership(roomID: roomID, userID: userID)?.membership, ["join", "invite"].contains(current) {
            return nil
        }
        var qualifies = false
        for condition in rules["allow"]?.arrayValue ?? [] where condition["type"] == "m.room_membership" {
            if let allowed = condition["room_id"]?.stringValue,
                try await storage.membership(roomID: allowed, userID: userID)?.membership == "join"
            {
                qualifies = true
                break
            }
        }
        guard qualifies else { return nil }
        let levels = PowerLevels(
            content: try await storage.currentStateEvent(roomID: roomID, key: .powerLevels)?.content,
            create: try await storage.currentStateEvent(roomID: roomID, key: .create), version: room.version)
        return try await storage.members(roomID: roomID, membership: "join")
            .map(\.userID)
            .filter { UserID($0)?.server == serverName && levels.userLevel($0) >= levels.invite }
            .sorted { levels.userLevel($0) > levels.userLevel($1) }
            .first
    }

    /// Leaves (or rejects, or withdraws a knock from) every room the user is in.
    func leaveAll(userID: String, reason: String) async throws {
        for membership in try await storage.memberships(userID: userID) where ["join", "invite", "knock"].contains(membership.membership) {
            // An invite to a room this server has no state of is answered on the inviter's
            // server (make_leave); deactivation does not wait on another server.
            guard try await RemoteMembership.hasState(roomID: membership.roomID, storage: storage) else { continue }
            _ = try await setMembership(roomID: membership.roomID, sender: userID, target: userID, membership: "leave", reason: reason)
        }
    }

    /// A new display name or avatar shows in every room the user is joined to, through a
    /// fresh membership event (spec "Events on Change of Profile Information").
    func updateMemberProfiles(userID: String, key: String, value: JSON?) async throws {
        for membership in try await storage.memberships(userID: userID) where membership.membership == "join" {
            guard let current = try await storage.currentStateEvent(roomID: membership.roomID, key: .member(userID)) else { continue }
            var content = current.content.objectValue ?? [:]
            content[key] = value
            // A room where the user may no longer change their own membership keeps the old profile.
            _ = try? await setMembership(roomID: membership.roomID, sender: userID, target: userID, membership: "join", reason: nil, extra: content)
        }
    }

    /// `POST /rooms/{id}/forget`: only after leaving, being kicked or banned, or rejecting.
    func forget(roomID: String, userID: String) async throws {
        guard let membership = try await storage.membership(roomID: roomID, userID: userID) else {
            throw MatrixError.notFound("You have never been in room \(roomID)")
        }
        guard ["leave", "ban"].contains(membership.membership) else {
            throw MatrixError.unknown("You must leave the room before forgetting it")
        }
        try await storage.setForgotten(roomID: roomID, userID: userID)
        if try await storage.isRoomForgottenByAll(roomID: roomID) {
            // No local user remembers the room and no one here can rejoin it without an invite
            // from a member who is not here: its history can go.
            try await storage.purgeRoom(roomID: roomID)
        }
    }
}
