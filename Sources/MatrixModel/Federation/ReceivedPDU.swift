/// The first three checks the spec makes of every PDU received over federation ("Checks
/// performed on receipt of a PDU"), in order: the format for its room version (else dropped),
/// its signatures (else dropped), its content hash (else redacted). Authorization against
/// its auth events, the state before it and current state comes after, with storage.
public enum ReceivedPDU {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Not a valid event of its room version: dropped.
        case invalid(String)
        /// A required signature is missing or wrong: dropped.
        case badSignature(String)

        public var description: String {
            switch self {
            case .invalid(let reason): "invalid event: \(reason)"
            case .badSignature(let reason): "signature check failed: \(reason)"
            }
        }
    }

    /// Spec "Size limits" and Synapse's bounds on references.
    public static let maxEventBytes = 65_536
    public static let maxPrevEvents = 20
    public static let maxAuthEvents = 10

    /// Step 1: the event's shape for its room version; returns it with the ID the version
    /// gives it (carried in v1/v2, the reference hash from v3).
    public static func parse(_ json: JSONObject, version: RoomVersion, roomID expectedRoom: String?) throws(Failure) -> PDU {
        func string(_ key: String) throws(Failure) -> String {
            guard let value = json[key]?.stringValue else { throw .invalid("'\(key)' must be a string") }
            return value
        }
        let type = try string("type")
        let sender = try string("sender")
        guard UserID(sender) != nil, sender.utf8.count <= 255 else { throw .invalid("'sender' is not a user ID") }
        guard type.utf8.count <= 255 else { throw .invalid("'type' is too long") }
        if let stateKey = json["state_key"] {
            guard let text = stateKey.stringValue, text.utf8.count <= 255 else { throw .invalid("'state_key' must be a short string") }
        }
        let isV12Create = type == "m.room.create" && version.roomIDIsCreateEventHash
        if isV12Create {
            guard json["room_id"] == nil else { throw .invalid("a v12 create event has no room_id") }
        } else {
            let roomID = try string("room_id")
            guard RoomID(roomID) != nil else { throw .invalid("'room_id' is not a room ID") }
            if let expectedRoom, roomID != expectedRoom { throw .invalid("the event belongs to another room") }
        }
        guard case .object = json["content"] else { throw .invalid("'content' must be an object") }
        guard json["origin_server_ts"]?.intValue != nil else { throw .invalid("'origin_server_ts' must be an integer") }
        guard let depth = json["depth"]?.intValue, depth >= 0 else { throw .invalid("'depth' must be a non-negative integer") }
        guard json["hashes"]?["sha256"]?.stringValue != nil else { throw .invalid("'hashes.sha256' is missing") }
        guard case .object = json["signatures"] else { throw .invalid("'signatures' must be an object") }
        for (key, limit) in [("prev_events", maxPrevEvents), ("auth_events", maxAuthEvents)] {
            guard let list = json[key]?.arrayValue else { throw .invalid("'\(key)' must be an array") }
            guard list.count <= limit else { throw .invalid("more than \(limit) \(key)") }
            for reference in list {
                let id = version.eventIDFormat == .serverScoped ? reference.arrayValue?.first?.stringValue : reference.stringValue
                guard let id, EventID(id) != nil else { throw .invalid("malformed reference in '\(key)'") }
            }
        }
        // Canonical JSON: no floats, integers within ±(2^53−1) (strictly from v6; every
        // version hashes and signs canonical JSON, so earlier ones could not be checked anyway).
        let size: Int
        do {
            size = try JSON.object(json).canonicalBytes().count
        } catch {
            throw .invalid("not canonical JSON: \(error)")
        }
        guard size <= maxEventBytes else { throw .invalid("larger than \(maxEventBytes) bytes") }
        do {
            return PDU(eventID: try EventHashing.eventID(json, version: version), json: json)
        } catch {
            throw .invalid("no valid event ID")
        }
    }

    /// The servers whose signatures the event must carry (spec "Validating hashes and
    /// signatures on received events"): the sender's; in v1/v2 the event ID's server too; for
    /// restricted joins (v8+), the server of `join_authorised_via_users_server`.
    public static func requiredSigners(_ pdu: PDU, version: RoomVersion) -> Set<String> {
        var servers = Set<String>()
        if let sender = UserID(pdu.sender) { servers.insert(sender.server.value) }
        if version.eventIDFormat == .serverScoped, let colon = pdu.eventID.firstIndex(of: ":") {
            servers.insert(String(pdu.eventID[pdu.eventID.index(after: colon)...]))
        }
        if version.allowsRestrictedJoins, pdu.membership == "join",
            let via = pdu.content["join_authorised_via_users_server"]?.stringValue.flatMap(UserID.init)
        {
            servers.insert(via.server.value)
        }
        return servers
    }

    /// The key IDs each required server signed with, for the caller to fetch keys for.
    public static func signingKeyIDs(_ pdu: PDU, version: RoomVersion) -> [String: [String]] {
        var wanted: [String: [String]] = [:]
        for server in requiredSigners(pdu, version: version) {
            wanted[server] = (pdu.json["signatures"]?[server]?.objectValue ?? [:]).map(\.key).filter { $0.hasPrefix("ed25519:") }.sorted()
        }
        return wanted
    }

    /// Step 2: every required server signed the redacted event with a key valid for it.
    /// `key(server, keyID)` gives the key usable at the event's `origin_server_ts` (room v5+
    /// enforce `valid_until_ts`; the caller decides with `RoomVersion.enforcesKeyValidity`).
    public static func verifySignatures(_ pdu: PDU, version: RoomVersion, key: (String, String) -> [UInt8]?) throws(Failure) {
        let redacted = Redaction.redact(pdu.json, version: version)
        for (server, keyIDs) in signingKeyIDs(pdu, version: version) {
            let verified = keyIDs.contains { keyID in
                key(server, keyID).map { JSONSigning.verify(redacted, server: server, keyID: keyID, publicKey: $0) } ?? false
            }
            guard verified else { throw .badSignature("no valid signature of \(server)") }
        }
    }

    /// Step 3: an event whose content does not match its hash is kept only in redacted form.
    public static func applyingHashCheck(_ pdu: PDU, version: RoomVersion) -> (pdu: PDU, redacted: Bool) {
        if EventHashing.contentHashMatches(pdu.json) { return (pdu, false) }
        return (PDU(eventID: pdu.eventID, json: Redaction.redact(pdu.json, version: version)), true)
    }
}
