import AxonStorage
import MatrixModel

/// Policy servers (spec server-server "Policy Servers"): in a room whose current state names
/// one (`m.room.policy` with a `via` server that has a joined member, and an ed25519 key),
/// every event but that state event itself should carry the policy server's signature under
/// `ed25519:policy_server`. An event without a valid one is sent to `/_matrix/policy/v1/sign`;
/// if it still has none, it is not recommended: a local client's request fails with the
/// policy server's error, a remote event is soft-failed.
struct RoomPolicy: Sendable {
    let storage: any Storage
    let client: FederationClient
    static let keyID = "ed25519:policy_server"
    static let stateKey = StateKey("m.room.policy", "")
    static let timeout: Duration = .seconds(10)

    struct Server: Sendable, Equatable {
        var name: String
        var publicKey: [UInt8]
    }

    enum Verdict: Sendable {
        case recommended(PDU)
        /// With the policy server's error, when it gave one.
        case notRecommended(MatrixError)
    }

    /// The room's policy server, when it has one in effect.
    static func server(state policy: PDU?, joinedServers: Set<String>) -> Server? {
        guard let policy, policy.stateKey == "", let via = policy.content["via"]?.stringValue, ServerName(via) != nil,
            let encoded = policy.content["public_keys"]?["ed25519"]?.stringValue, let key = UnpaddedBase64.decode(encoded), key.count == 32,
            joinedServers.contains(via)
        else { return nil }
        return Server(name: via, publicKey: key)
    }

    /// Whether `pdu` needs the policy server's signature at all.
    static func isExempt(_ pdu: PDU) -> Bool { pdu.type == "m.room.policy" && pdu.stateKey == "" }

    static func hasValidSignature(_ pdu: PDU, from server: Server, version: RoomVersion) -> Bool {
        JSONSigning.verify(Redaction.redact(pdu.json, version: version), server: server.name, keyID: keyID, publicKey: server.publicKey)
    }

    func policyServer(roomID: String) async throws -> Server? {
        guard let policy = try await storage.currentStateEvent(roomID: roomID, key: Self.stateKey) else { return nil }
        let joined = Set(try await storage.members(roomID: roomID, membership: "join").compactMap { UserID($0.userID)?.server.value })
        return Self.server(state: policy, joinedServers: joined)
    }

    /// The event as it may go on: with the policy server's signature added when it had to be
    /// asked for, or refused.
    func check(_ pdu: PDU, server: Server?, version: RoomVersion) async -> Verdict {
        guard !Self.isExempt(pdu), let server else { return .recommended(pdu) }
        if Self.hasValidSignature(pdu, from: server, version: version) { return .recommended(pdu) }
        guard client.mayFederate(with: server.name) else {
            return .notRecommended(MatrixError.forbidden("The room's policy server \(server.name) cannot be reached from here"))
        }
        let response: FederationClient.Response
        do {
            response = try await client.request(
                .POST, destination: server.name, path: "/_matrix/policy/v1/sign", body: .object(ServerVisibility.federationForm(pdu).json),
                timeout: Self.timeout)
        } catch {
            return .notRecommended(MatrixError(502, "M_UNKNOWN", "The room's policy server \(server.name) could not be reached"))
        }
        guard response.status == 200, let signature = response.json[server.name]?[Self.keyID]?.stringValue else {
            let errcode = response.json["errcode"]?.stringValue ?? "M_FORBIDDEN"
            let message = response.json["error"]?.stringValue ?? "The room's policy server did not sign the event"
            return .notRecommended(MatrixError(response.status == 200 ? 403 : max(400, min(response.status, 499)), errcode, message))
        }
        var json = pdu.json
        var signatures = json["signatures"]?.objectValue ?? [:]
        var theirs = signatures[server.name]?.objectValue ?? [:]
        theirs[Self.keyID] = .string(signature)
        signatures[server.name] = .object(theirs)
        json["signatures"] = .object(signatures)
        let signed = PDU(eventID: pdu.eventID, json: json)
        guard Self.hasValidSignature(signed, from: server, version: version) else {
            return .notRecommended(MatrixError.forbidden("The policy server's signature does not verify"))
        }
        return .recommended(signed)
    }
}
