/// Read access to the room state an event is checked against (the state before it).
public protocol AuthStateProvider {
    func stateEvent(_ key: StateKey) -> PDU?
}

extension Dictionary: AuthStateProvider where Key == StateKey, Value == PDU {
    public func stateEvent(_ key: StateKey) -> PDU? { self[key] }
}

public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The authorization rules of room versions 1 to 12 (spec content/rooms/v*.md,
/// "Authorisation rules"), as one implementation switched by `RoomVersion` features.
/// Rule numbers in comments follow the v12 text.
public enum AuthRules {
    /// The `auth_events` selection of the server-server spec: which current state events give
    /// the sender permission to send `event`.
    public static func authEventKeys(type: String, sender: String, stateKey: String?, content: JSON, version: RoomVersion) -> [StateKey] {
        if type == "m.room.create" { return [] }
        var keys: [StateKey] = []
        if !version.roomIDIsCreateEventHash { keys.append(.create) }
        keys.append(.powerLevels)
        keys.append(.member(sender))
        if type == "m.room.member", let target = stateKey {
            if target != sender { keys.append(.member(target)) }
            let membership = content["membership"]?.stringValue
            if ["join", "invite", "knock"].contains(membership) { keys.append(.joinRules) }
            if membership == "invite", let token = content["third_party_invite"]?["signed"]?["token"]?.stringValue {
                keys.append(StateKey("m.room.third_party_invite", token))
            }
            if membership == "join", let via = content["join_authorised_via_users_server"]?.stringValue, via != sender {
                keys.append(.member(via))
            }
        }
        return keys
    }

    /// Checks `event` against the state before it. `createEventID` is the event ID of the room's
    /// create event; `signatureCheck` verifies `join_authorised_via_users_server` signatures.
    public static func check(
        _ event: PDU, state: some AuthStateProvider, version: RoomVersion,
        verifySignature: (PDU, _ server: String) -> Bool = { _, _ in false }
    ) throws(AuthError) {
        let content = event.content
        // 1. Create events.
        if event.type == "m.room.create" {
            guard event.prevEvents.isEmpty else { throw AuthError("the create event must not have prev_events") }
            if version.roomIDIsCreateEventHash {
                guard event.roomID == nil else { throw AuthError("a v12 create event must not have a room_id") }
            } else {
                guard let roomID = event.roomID.flatMap(RoomID.init), let sender = UserID(event.sender),
                    roomID.server == sender.server
                else { throw AuthError("the room ID's domain must match the creator's") }
            }
            if let roomVersion = content["room_version"] {
                guard let name = roomVersion.stringValue, RoomVersion(name) != nil else {
                    throw AuthError("unknown room version")
                }
            }
            if version.createEventHasCreator, content["creator"] == nil {
                throw AuthError("the create event must name its creator")
            }
            if version.creatorsHaveInfinitePower, let additional = content["additional_creators"] {
                guard let array = additional.arrayValue,
                    array.allSatisfy({ $0.stringValue.flatMap(UserID.init) != nil })
                else { throw AuthError("additional_creators must be an array of user IDs") }
            }
            return
        }

        // 2-3. The room's create event.
        guard let create = state.stateEvent(.create) else { throw AuthError("the room has no create event") }
        if version.roomIDIsCreateEventHash {
            guard event.roomID == "!" + create.eventID.dropFirst() else {
                throw AuthError("the room ID does not match the create event")
            }
        }
        // 4. m.federate.
        if create.content["m.federate"] == .bool(false),
            UserID(event.sender)?.server != UserID(create.sender)?.server
        {
            throw AuthError("this room does not federate")
        }

        // v1-v5: aliases belong to the server named by the state key.
        if version.hasAliasesAuthRule, event.type == "m.room.aliases" {
            guard let stateKey = event.stateKey else { throw AuthError("m.room.aliases needs a state_key") }
            guard UserID(event.sender)?.server.value == stateKey else {
                throw AuthError("only \(stateKey) may set its aliases")
            }
            return
        }

        let powerLevels = PowerLevels(
            content: state.stateEvent(.powerLevels)?.content, create: create, version: version)
        let senderMembership = state.stateEvent(.member(event.sender))?.membership ?? "leave"

        // 5. Membership events.
        if event.type == "m.room.member" {
            try checkMember(
                event, state: state, create: create, powerLevels: powerLevels, senderMembership: senderMembership,
                version: version, verifySignature: verifySignature)
            return
        }

        // 6. Everything else requires the sender to be joined.
        guard senderMembership == "join" else { throw AuthError("\(event.sender) is not in the room") }
        let senderLevel = powerLevels.userLevel(event.sender)

        // 7. Third-party invites.
        if event.type == "m.room.third_party_invite" {
            guard senderLevel >= powerLevels.invite else { throw AuthError("insufficient power level to invite") }
            return
        }
        // 8. The event type's required power level.
        let required = powerLevels.requiredLevel(eventType: event.type, isState: event.isState)
        guard required <= senderLevel else {
            throw AuthError("sending \(event.type) needs power level \(required); \(event.sender) has \(senderLevel)")
        }
        // 9. State keys that name a user belong to that user.
        if let stateKey = event.stateKey, stateKey.hasPrefix("@"), stateKey != event.sender {
            throw AuthError("only \(stateKey) may set state with their user ID as the state key")
        }
        // 10. Power levels.
        if event.type == "m.room.power_levels" {
            try checkPowerLevels(event, state: state, create: create, powerLevels: powerLevels, senderLevel: senderLevel, version: version)
        }
        // v1, v2 rule 11: redactions need the redact level or the redacted event's domain.
        if version.authorisesRedactionsByDomain, event.type == "m.room.redaction", senderLevel < powerLevels.redact {
            guard let target = event.redacts, let targetDomain = target.split(separator: ":", maxSplits: 1).dropFirst().first,
                let ownDomain = event.eventID.split(separator: ":", maxSplits: 1).dropFirst().first, targetDomain == ownDomain
            else { throw AuthError("redacting another server's event needs the redact power level") }
        }
        // 11. Otherwise, allow.
    }

    private static func checkMember(
        _ event: PDU, state: some AuthStateProvider, create: PDU, powerLevels: PowerLevels, senderMembership: String,
        version: RoomVersion, verifySignature: (PDU, String) -> Bool
    ) throws(AuthError) {
        let content = event.content
        // 5.1
        guard let target = event.stateKey, let membership = content["membership"]?.stringValue else {
            throw AuthError("membership events need a state_key and content.membership")
        }
        // 5.2 (v8+)
        if version.allowsRestrictedJoins, let via = content["join_authorised_via_users_server"] {
            guard let viaUser = via.stringValue.flatMap(UserID.init), verifySignature(event, viaUser.server.value) else {
                throw AuthError("join_authorised_via_users_server is not signed by that user's server")
            }
        }
        let targetMembership = state.stateEvent(.member(target))?.membership ?? "leave"
        let joinRule = state.stateEvent(.joinRules)?.content["join_rule"]?.stringValue ?? "invite"
        let senderLevel = powerLevels.userLevel(event.sender)
        let targetLevel = powerLevels.userLevel(target)

        switch membership {
        case "join":
            // 5.3.1 The creator's first join.
            if event.prevEvents == [create.eventID], target == create.sender { return }
            guard event.sender == target else { throw AuthError("cannot join on behalf of another user") }
            guard senderMembership != "ban" else { throw AuthError("\(target) is banned from the room") }
            switch joinRule {
            case "invite", "knock" where version.allowsKnocking:
                guard ["invite", "join"].contains(senderMembership) else { throw AuthError("the room is invite-only") }
            case "restricted" where version.allowsRestrictedJoins, "knock_restricted" where version.allowsKnockRestricted:
                if ["invite", "join"].contains(senderMembership) { return }
                guard let via = content["join_authorised_via_users_server"]?.stringValue,
                    state.stateEvent(.member(via))?.membership == "join", powerLevels.userLevel(via) >= powerLevels.invite
                else {
                    throw AuthError("a restricted join must be authorised by a joined member who may invite")
                }
            case "public":
                return
            default:
                throw AuthError("join rule \(joinRule) does not allow joining")
            }
        case "invite":
            if content["third_party_invite"] != nil {
                try checkThirdPartyInvite(event, state: state, targetMembership: targetMembership)
                return
            }
            guard senderMembership == "join" else { throw AuthError("\(event.sender) is not in the room") }
            guard !["join", "ban"].contains(targetMembership) else {
                throw AuthError("\(target) is \(targetMembership == "ban" ? "banned from" : "already in") the room")
            }
            guard senderLevel >= powerLevels.invite else { throw AuthError("insufficient power level to invite") }
        case "leave":
            if event.sender == target {
                guard ["invite", "join"].contains(senderMembership) || (version.allowsKnocking && senderMembership == "knock") else {
                    throw AuthError("\(target) is not in the room")
                }
                return
            }
            guard senderMembership == "join" else { throw AuthError("\(event.sender) is not in the room") }
            if targetMembership == "ban", senderLevel < powerLevels.ban {
                throw AuthError("insufficient power level to unban")
            }
            guard senderLevel >= powerLevels.kick, targetLevel < senderLevel else {
                throw AuthError("insufficient power level to kick \(target)")
            }
        case "ban":
            guard senderMembership == "join" else { throw AuthError("\(event.sender) is not in the room") }
            guard senderLevel >= powerLevels.ban, targetLevel < senderLevel else {
                throw AuthError("insufficient power level to ban \(target)")
            }
        case "knock" where version.allowsKnocking:
            guard joinRule == "knock" || (joinRule == "knock_restricted" && version.allowsKnockRestricted) else {
                throw AuthError("the room does not allow knocking")
            }
            guard event.sender == target else { throw AuthError("cannot knock on behalf of another user") }
            guard !["ban", "invite", "join"].contains(senderMembership) else {
                throw AuthError("cannot knock while \(senderMembership == "join" ? "joined" : senderMembership == "ban" ? "banned" : "invited")")
            }
        default:
            throw AuthError("unknown membership \(membership)")
        }
    }

    private static func checkThirdPartyInvite(_ event: PDU, state: some AuthStateProvider, targetMembership: String) throws(AuthError) {
        guard targetMembership != "ban" else { throw AuthError("the invited user is banned") }
        guard let signed = event.content["third_party_invite"]?["signed"]?.objectValue else {
            throw AuthError("third_party_invite needs a signed block")
        }
        guard let mxid = signed["mxid"]?.stringValue, let token = signed["token"]?.stringValue else {
            throw AuthError("third_party_invite.signed needs mxid and token")
        }
        guard mxid == event.stateKey else { throw AuthError("third_party_invite is for another user") }
        guard let invite = state.stateEvent(StateKey("m.room.third_party_invite", token)) else {
            throw AuthError("no matching m.room.third_party_invite")
        }
        guard invite.sender == event.sender else { throw AuthError("only the third-party inviter may complete the invite") }
        var keys: [String] = []
        if let key = invite.content["public_key"]?.stringValue { keys.append(key) }
        for entry in invite.content["public_keys"]?.arrayValue ?? [] {
            if let key = entry["public_key"]?.stringValue { keys.append(key) }
        }
        let signatures = signed["signatures"]?.objectValue ?? [:]
        for (server, serverSignatures) in signatures {
            for (keyID, _) in serverSignatures.objectValue ?? [:] {
                for key in keys {
                    if let publicKey = UnpaddedBase64.decode(key),
                        JSONSigning.verify(signed, server: server, keyID: keyID, publicKey: publicKey)
                    {
                        return
                    }
                }
            }
        }
        throw AuthError("the third-party invite signature does not verify")
    }

    private static func checkPowerLevels(
        _ event: PDU, state: some AuthStateProvider, create: PDU, powerLevels: PowerLevels, senderLevel: Int64, version: RoomVersion
    ) throws(AuthError) {
        let content = event.content
        let scalarKeys = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"]
        func integer(_ value: JSON?) -> Int64? { value.flatMap { PowerLevels.integer($0, version: version) } }
        // 10.1-10.3: shape (v10+; before, only `users` is checked).
        if version.integerOnlyPowerLevels {
            for key in scalarKeys {
                if let value = content[key], value.intValue == nil { throw AuthError("\(key) must be an integer") }
            }
            for key in ["events", "notifications"] {
                if let value = content[key] {
                    guard let object = value.objectValue, object.allSatisfy({ $0.value.intValue != nil }) else {
                        throw AuthError("\(key) must be an object of integers")
                    }
                }
            }
        }
        if let users = content["users"] {
            guard let object = users.objectValue,
                object.allSatisfy({ UserID($0.key) != nil && integer($0.value) != nil })
            else { throw AuthError("users must map user IDs to integers") }
            // 10.4: creators cannot be listed (v12).
            if version.creatorsHaveInfinitePower {
                for creator in PowerLevels.creators(of: create) where object[creator] != nil {
                    throw AuthError("room creators cannot be given a power level")
                }
            }
        }
        // 10.5
        guard let previous = state.stateEvent(.powerLevels)?.content else { return }
        // 10.6
        for key in scalarKeys where previous[key] != content[key] {
            let old = integer(previous[key])
            let new = integer(content[key])
            if let old, old > senderLevel { throw AuthError("cannot change \(key) from above your own level") }
            if let new, new > senderLevel { throw AuthError("cannot set \(key) above your own level") }
        }
        // 10.7-10.8
        for key in version.checksNotificationLevels ? ["events", "notifications"] : ["events"] {
            let old = previous[key]?.objectValue ?? [:]
            let new = content[key]?.objectValue ?? [:]
            for (name, value) in old where new[name] != value {
                if let level = integer(value), level > senderLevel {
                    throw AuthError("cannot change \(key).\(name) from above your own level")
                }
            }
            for (name, value) in new where old[name] != value {
                if let level = integer(value), level > senderLevel {
                    throw AuthError("cannot set \(key).\(name) above your own level")
                }
            }
        }
        // 10.9-10.10
        let oldUsers = previous["users"]?.objectValue ?? [:]
        let newUsers = content["users"]?.objectValue ?? [:]
        for (user, value) in oldUsers where newUsers[user] != value && user != event.sender {
            if let level = integer(value), level >= senderLevel {
                throw AuthError("cannot change the power level of \(user), who is not below you")
            }
        }
        for (user, value) in newUsers where oldUsers[user] != value {
            if let level = integer(value), level > senderLevel {
                throw AuthError("cannot give \(user) a power level above your own")
            }
        }
    }
}
