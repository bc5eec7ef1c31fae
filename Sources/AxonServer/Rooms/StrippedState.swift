import AxonStorage
import MatrixModel

extension RoomService {
    /// The state an invite or knock shows (spec "Stripped state"): the room's create event,
    /// name, avatar, rules, encryption and the inviter's membership, as of a state group.
    static func strippedStateKeys(sender: String) -> [StateKey] {
        [
            .create, .joinRules, StateKey("m.room.name", ""), StateKey("m.room.avatar", ""),
            StateKey("m.room.canonical_alias", ""), StateKey("m.room.encryption", ""), StateKey("m.room.topic", ""),
            .member(sender),
        ]
    }

    func strippedStateEvents(group: Int64, sender: String) async throws -> [PDU] {
        var events: [PDU] = []
        for key in Self.strippedStateKeys(sender: sender) {
            if let pdu = try await storage.stateEvent(group: group, key: key) { events.append(pdu) }
        }
        return events
    }

    /// Stripped state for a client, then the membership event itself. For a room this server
    /// has no state of, what the other server gave with the event.
    func strippedState(_ membershipEvent: StoredEvent) async throws -> [JSON] {
        var events = try await strippedStateEvents(group: membershipEvent.stateGroup, sender: membershipEvent.pdu.sender)
            .filter { $0.eventID != membershipEvent.pdu.eventID }.map(ClientEventFormat.stripped)
        if !events.contains(where: { $0["type"] == "m.room.create" }) {
            events = RemoteMembership.shownState(of: membershipEvent.pdu).filter {
                !($0["type"] == "m.room.member" && $0["state_key"]?.stringValue == membershipEvent.pdu.stateKey)
            }
        }
        events.append(ClientEventFormat.stripped(membershipEvent.pdu))
        return events
    }
}
