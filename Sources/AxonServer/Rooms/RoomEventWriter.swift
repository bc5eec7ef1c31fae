import AxonStorage
import MatrixModel

/// What a client asks to send; the pipeline turns it into a full PDU.
struct EventTemplate: Sendable {
    var type: String
    var stateKey: String?
    var sender: String
    var content: JSON
    /// For `m.room.redaction` in room versions that keep `redacts` at the top level.
    var redacts: String?
    /// Members' push outcomes decided before the write transaction (`PushActionRecorder.decide`).
    var pushDecisions: PushActionRecorder.Decisions?
    /// An application service's `ts` (spec "Timestamp massaging"): the event's
    /// `origin_server_ts` instead of now.
    var timestamp: Int64?

    init(type: String, stateKey: String? = nil, sender: String, content: JSON, redacts: String? = nil) {
        self.type = type
        self.stateKey = stateKey
        self.sender = sender
        self.content = content
        self.redacts = redacts
    }
}

/// The event creation pipeline (DESIGN.md): inside the room's write transaction, pick
/// prev_events and auth_events from the current state, hash and sign, check the room
/// version's authorization rules against that same state, then persist. Every membership
/// change and power check goes through here, never around it.
struct RoomEventWriter: Sendable {
    let serverName: ServerName
    let signingKey: SigningKey
    /// Invites of users of other servers are signed by their server before they are stored
    /// (spec "Inviting to a room"): every invite, whichever route made it.
    var remoteInvites: RemoteInvite?
    /// In a room with a policy server, local events go out only with its signature.
    var policy: RoomPolicy?

    /// What an event needs from other servers before it may be stored: the invitee's server's
    /// signature on an invite of a remote user (with the stripped state it is shown), and the
    /// room's policy server's signature.
    struct ExternalSignatures: Sendable {
        var inviteState: [PDU]?
        var policyServer: RoomPolicy.Server?
        var isEmpty: Bool { inviteState == nil && policyServer == nil }
    }

    /// The event was drafted on extremities that have moved since: draft it again.
    struct StaleDraft: Error {}

    /// The event needs other servers' signatures and the caller asked not to wait for them
    /// inside the transaction: it drafts the event instead.
    struct NeedsExternalSignatures: Error {}

    /// Builds, checks and stores the event in one go. Signatures other servers must add are
    /// asked for here, inside the transaction; `RoomService.send` asks for them beforehand
    /// instead (`draft`, `signExternally`, then `append` with `presigned`), so the writer is
    /// not held while another server answers.
    func append(
        _ template: EventTemplate, in tx: any RoomWriteTransaction, transaction: TransactionKey? = nil,
        now: Int64 = nowMillis(), presigned: PDU? = nil, signInline: Bool = true
    ) async throws -> StoredEvent {
        guard let room = tx.room else { throw MatrixError.forbidden("Unknown room") }
        var (pdu, state) = try await build(template, in: tx, now: now, presigned: presigned)
        if presigned == nil {
            let needs = try await externalSignatures(pdu, policyEvent: state[RoomPolicy.stateKey], in: tx)
            if !needs.isEmpty {
                guard signInline else { throw NeedsExternalSignatures() }
                pdu = try await signExternally(pdu, needs: needs, version: room.version)
            }
        }
        let stored = try await tx.append(
            Self.withPreviousContent(pdu, replacing: pdu.stateKey.flatMap { state[StateKey(pdu.type, $0)] }), transaction: transaction)
        try await tx.enqueueOutbound(eventID: stored.pdu.eventID, destinations: try await Self.destinations(of: stored.pdu, in: tx, except: serverName.value))
        if let decisions = template.pushDecisions {
            try await PushActionRecorder.record(stored, decisions: decisions, in: tx)
        } else {
            try await PushActionRecorder.record(stored, state: state, version: room.version, localServer: serverName.value, in: tx)
        }
        return stored
    }

    /// The signed and checked event, not stored, and what it still needs from other servers.
    func draft(_ template: EventTemplate, in tx: any RoomWriteTransaction) async throws -> (PDU, ExternalSignatures) {
        let (pdu, state) = try await build(template, in: tx, now: nowMillis(), presigned: nil)
        return (pdu, try await externalSignatures(pdu, policyEvent: state[RoomPolicy.stateKey], in: tx))
    }

    /// `policyEvent`: the room's `m.room.policy`, read with the rest of the state `build` needs.
    func externalSignatures(_ pdu: PDU, policyEvent: PDU?, in tx: any RoomWriteTransaction) async throws -> ExternalSignatures {
        var needs = ExternalSignatures()
        if pdu.type == "m.room.member", pdu.membership == "invite", let invitee = pdu.stateKey.flatMap(UserID.init), invitee.server != serverName {
            var shown = try await tx.currentStateEvents(RoomService.strippedStateKeys(sender: pdu.sender))
            shown[.member(invitee.description)] = nil
            needs.inviteState = shown.values.sorted { $0.depth < $1.depth }
        }
        if policy != nil, !RoomPolicy.isExempt(pdu), let policyEvent {
            let joined = Set(try await tx.joinedMembers().compactMap { UserID($0)?.server.value })
            needs.policyServer = RoomPolicy.server(state: policyEvent, joinedServers: joined)
        }
        return needs
    }

    /// Asks the invitee's server and the policy server; no transaction is needed.
    func signExternally(_ pdu: PDU, needs: ExternalSignatures, version: RoomVersion) async throws -> PDU {
        var pdu = pdu
        if let inviteState = needs.inviteState {
            guard let remoteInvites else { throw MatrixError.forbidden("This server does not federate") }
            pdu = try await remoteInvites.countersign(pdu, version: version, roomState: inviteState)
        }
        if let server = needs.policyServer, let policy {
            switch await policy.check(pdu, server: server, version: version) {
            case .recommended(let signed): pdu = signed
            case .notRecommended(let error): throw error
            }
        }
        return pdu
    }

    /// The event built on the current extremities and state, signed, and checked against the
    /// auth rules; a `presigned` draft is taken only if it still builds on the same extremities.
    private func build(
        _ template: EventTemplate, in tx: any RoomWriteTransaction, now: Int64, presigned: PDU?
    ) async throws -> (PDU, [StateKey: PDU]) {
        guard let room = tx.room else { throw MatrixError.forbidden("Unknown room") }
        try Self.checkKeys(type: template.type, stateKey: template.stateKey)
        let version = room.version
        let authKeys = AuthRules.authEventKeys(
            type: template.type, sender: template.sender, stateKey: template.stateKey, content: template.content,
            version: version)
        // The policy state rides along: whether the room has a policy server costs no extra read.
        var wanted = Set(authKeys + [.create, .joinRules, .powerLevels, RoomPolicy.stateKey])
        if let stateKey = template.stateKey { wanted.insert(StateKey(template.type, stateKey)) }
        let state = try await tx.currentStateEvents(Array(wanted))
        let (prevEvents, depth) = try await Self.prevEvents(in: tx)
        let pdu: PDU
        if let presigned {
            guard presigned.prevEvents == prevEvents else { throw StaleDraft() }
            pdu = presigned
        } else {
            var json: JSONObject = [
                "type": .string(template.type),
                "sender": .string(template.sender),
                "content": template.content,
                "origin_server_ts": .int(template.timestamp ?? now),
                "depth": .int(depth),
                "prev_events": Self.references(prevEvents, version: version),
                "auth_events": Self.references(authKeys.compactMap { state[$0]?.eventID }, version: version),
                "room_id": .string(room.roomID),
            ]
            if let stateKey = template.stateKey { json["state_key"] = .string(stateKey) }
            if let redacts = template.redacts, !version.redactsInContent { json["redacts"] = .string(redacts) }
            pdu = try sign(json, version: version)
        }
        try Self.checkSize(pdu)
        do {
            try AuthRules.check(pdu, state: state, version: version, verifySignature: { verifyOwnSignature($0, server: $1, version: version) })
        } catch {
            throw MatrixError.forbidden(error.reason)
        }
        return (pdu, state)
    }

    /// Spec: a new event should build on every forward extremity, up to 20 (Axon takes the
    /// deepest 10, as Synapse does, so a flood of forks cannot bloat every event), and its
    /// depth is one more than the deepest, capped at 2^63 − 1.
    static let maxPrevEvents = 10

    static func prevEvents(in tx: any RoomWriteTransaction) async throws -> (ids: [String], depth: Int64) {
        let extremities = try await tx.forwardExtremities().prefix(maxPrevEvents)
        let deepest = extremities.map(\.depth).max() ?? 0
        return (extremities.map(\.eventID), deepest == Int64.max ? Int64.max : deepest + 1)
    }

    /// The servers an event goes to: every server with a member joined to the room (after the
    /// event), and the server of a membership event's target (a kicked or invited user's).
    static func destinations(of pdu: PDU, in tx: any RoomWriteTransaction, except own: String) async throws -> [String] {
        var servers = Set(try await tx.joinedMembers().compactMap { UserID($0)?.server.value })
        // An invitee's server was handed the invite directly (`/invite`).
        if pdu.type == "m.room.member", pdu.membership != "invite", let target = pdu.stateKey.flatMap(UserID.init) {
            servers.insert(target.server.value)
        }
        servers.remove(own)
        return servers.sorted()
    }

    /// Builds and signs a create event. Its ID (and in v12 the room ID) follows from its hash.
    func createEvent(creator: String, version: RoomVersion, roomID: String?, content: JSON, now: Int64 = nowMillis()) throws -> PDU {
        var json: JSONObject = [
            "type": "m.room.create", "sender": .string(creator), "state_key": "", "content": content,
            "origin_server_ts": .int(now), "depth": 1, "prev_events": [], "auth_events": [],
        ]
        if let roomID { json["room_id"] = .string(roomID) }
        let pdu = try sign(json, version: version)
        try Self.checkSize(pdu)
        do {
            try AuthRules.check(pdu, state: [StateKey: PDU](), version: version)
        } catch {
            throw MatrixError(400, "M_INVALID_ROOM_STATE", error.reason)
        }
        return pdu
    }

    /// Spec "Size limits": the whole signed event in canonical JSON at most 64 KiB.
    static let maxEventBytes = 65_536
    static let maxKeyBytes = 255

    static func checkSize(_ pdu: PDU) throws(MatrixError) {
        guard let size = try? JSON.object(pdu.json).canonicalBytes().count, size <= maxEventBytes else {
            throw MatrixError.tooLarge("Events are limited to \(maxEventBytes) bytes")
        }
    }

    /// Types and state keys: at most 255 bytes, and no NUL (no store could keep it).
    static func checkKeys(type: String, stateKey: String?) throws(MatrixError) {
        for (name, value) in [("type", type), ("state_key", stateKey ?? "")] {
            guard value.utf8.count <= maxKeyBytes else { throw MatrixError.invalidParam("The event \(name) is longer than \(maxKeyBytes) bytes") }
            guard !value.utf8.contains(0) else { throw MatrixError.invalidParam("The event \(name) contains a NUL character") }
        }
    }

    /// Without federation, the only server that can authorise a restricted join is this one.
    private func verifyOwnSignature(_ event: PDU, server: String, version: RoomVersion) -> Bool {
        guard server == serverName.value else { return false }
        return JSONSigning.verify(
            Redaction.redact(event.json, version: version), server: server, keyID: signingKey.keyID,
            publicKey: Array(signingKey.privateKey.publicKey.rawRepresentation))
    }

    /// `prev_events`/`auth_events` as the room version writes them: IDs, or (v1, v2)
    /// `[event_id, hashes]` pairs, with empty hashes as other servers send them.
    static func references(_ eventIDs: [String], version: RoomVersion) -> JSON {
        switch version.eventIDFormat {
        case .serverScoped: return .array(eventIDs.map { [.string($0), .object([:])] })
        case .referenceHash, .urlSafeReferenceHash: return .array(eventIDs.map(JSON.string))
        }
    }

    private func sign(_ json: JSONObject, version: RoomVersion) throws -> PDU {
        var json = json
        if version.eventIDFormat == .serverScoped {
            // v1, v2: the event carries an ID this server makes up, under its own name.
            json["event_id"] = .string("$" + RandomString.alphanumeric(18) + ":" + serverName.value)
        }
        let signed: JSONObject
        let eventID: String
        do {
            signed = try EventHashing.hashAndSign(json, version: version, server: serverName.value, key: signingKey)
            eventID = try EventHashing.eventID(signed, version: version)
        } catch {
            throw MatrixError.badJSON("Event content is not valid canonical JSON: numbers must be integers within ±(2^53−1)")
        }
        return PDU(eventID: eventID, json: signed)
    }

    /// Records the content this state event replaces in `unsigned` (not covered by hashes or
    /// signatures), so clients get `prev_content` without another lookup.
    /// `unsigned` as clients see it: what the event replaced (the visibility rules read it too).
    static func withPreviousContent(_ pdu: PDU, replacing previous: PDU?) -> PDU {
        guard let previous else { return pdu }
        var json = pdu.json
        var unsigned = json["unsigned"]?.objectValue ?? [:]
        unsigned["replaces_state"] = .string(previous.eventID)
        unsigned["prev_content"] = previous.content
        unsigned["prev_sender"] = .string(previous.sender)
        json["unsigned"] = .object(unsigned)
        return PDU(eventID: pdu.eventID, json: json)
    }
}
