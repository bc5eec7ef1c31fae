import AxonStorage
import MatrixModel

/// Inviting a user of another server (spec "Inviting to a room", inviting side): the checked
/// invite goes to the invitee's server with `PUT /v2/invite` and the room's stripped state (as
/// PDUs, v1.16); the answer must be the same event with a valid signature of that server
/// added, and only then is it stored and sent to the room's servers.
struct RemoteInvite: Sendable {
    let federation: FederationServices
    /// Short: the caller holds the room's writer (and, on SQLite, the database's) meanwhile.
    static let timeout: Duration = .seconds(15)

    func countersign(_ pdu: PDU, version: RoomVersion, roomState: [PDU]) async throws -> PDU {
        guard let invitee = pdu.stateKey.flatMap(UserID.init), let roomID = pdu.roomID else { throw MatrixError.invalidParam("Not an invite") }
        let server = invitee.server.value
        guard federation.client.mayFederate(with: server) else {
            throw MatrixError.forbidden("This server does not federate with \(server)")
        }
        let body: JSON = [
            "event": .object(ServerVisibility.federationForm(pdu).json), "room_version": .string(version.identifier),
            "invite_room_state": .array(roomState.map { .object(ServerVisibility.federationForm($0).json) }),
        ]
        let response: FederationClient.Response
        do {
            response = try await federation.client.request(
                .PUT, destination: server,
                path: "/_matrix/federation/v2/invite/\(PercentEncoding.component(roomID))/\(PercentEncoding.component(pdu.eventID))", body: body,
                timeout: Self.timeout)
        } catch {
            throw MatrixError(502, "M_UNKNOWN", "Could not reach \(server) to invite \(invitee): \(error)")
        }
        guard response.status == 200, let returned = response.json["event"]?.objectValue else {
            let code = response.json["errcode"]?.stringValue ?? "M_UNKNOWN"
            let message = response.json["error"]?.stringValue ?? "HTTP \(response.status)"
            throw MatrixError(response.status == 403 ? 403 : 502, response.status == 403 ? "M_FORBIDDEN" : code, "\(server) refused the invite: \(message)")
        }
        // Only the invitee server's signatures are taken from the answer; the rest is ours.
        guard let theirs = returned["signatures"]?[server]?.objectValue else {
            throw MatrixError(502, "M_UNKNOWN", "\(server) did not sign the invite")
        }
        var json = pdu.json
        var signatures = json["signatures"]?.objectValue ?? [:]
        signatures[server] = .object(theirs)
        json["signatures"] = .object(signatures)
        let signed = PDU(eventID: pdu.eventID, json: json)
        let redacted = Redaction.redact(json, version: version)
        var valid = false
        for keyID in theirs.keys.prefix(4) {
            if let key = try await federation.keys.publicKey(server: server, keyID: keyID, at: nowMillis(), enforceValidity: false),
                JSONSigning.verify(redacted, server: server, keyID: keyID, publicKey: key)
            {
                valid = true
                break
            }
        }
        guard valid else { throw MatrixError(502, "M_UNKNOWN", "\(server)'s signature on the invite does not verify") }
        return signed
    }
}
