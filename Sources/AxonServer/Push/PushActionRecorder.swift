import AxonStorage
import MatrixModel

/// Runs every room member's push rules against a new event inside the event's own write
/// transaction (spec "Server behaviour": the new count must arrive in the same /sync as the
/// event). Notifying outcomes are stored; the pusher delivery reads them after commit.
enum PushActionRecorder {
    /// Relations followed to find an event's thread (the spec recommends at most 3 hops).
    static let maxThreadHops = 3

    static func record(
        _ event: StoredEvent, state: [StateKey: PDU], version: RoomVersion, in tx: any RoomWriteTransaction
    ) async throws {
        let pdu = event.pdu
        let members = try await tx.joinedMembers()
        var recipients = members.filter { $0 != pdu.sender }
        // An invitee is not a member yet, but `.m.rule.invite_for_me` is for them.
        if pdu.membership == "invite", let invitee = pdu.stateKey, invitee != pdu.sender, !recipients.contains(invitee) {
            recipients.append(invitee)
        }
        guard !recipients.isEmpty else { return }
        let documents = try await tx.pushRules(for: recipients)
        let levels = PowerLevels(content: state[.powerLevels]?.content, create: state[.create], version: version)
        let senderLevel = levels.userLevel(pdu.sender)
        var threadID: String?
        var records: [PushActionRecord] = []
        for user in recipients {
            let rules = PushRuleSet(userID: user, document: documents[user])
            var displayName: String?
            if rules.usesDisplayName {
                displayName = try await tx.currentStateEvent(.member(user))?.content["displayname"]?.stringValue
            }
            let context = PushEvaluationContext(
                userID: user, displayName: displayName, memberCount: members.count, senderPowerLevel: senderLevel,
                notificationLevels: levels.notifications)
            guard let actions = rules.evaluate(pdu.json, context: context), actions.notifies else { continue }
            if threadID == nil { threadID = try await thread(of: pdu, in: tx) }
            records.append(
                PushActionRecord(
                    userID: user, eventID: pdu.eventID, threadID: threadID ?? "main", highlight: actions.highlights,
                    actions: .array(actions.actions)))
        }
        try await tx.addPushActions(records, for: event)
    }

    /// The thread root an event belongs to, following its relations; `main` for the main timeline.
    static func thread(of pdu: PDU, in tx: any RoomWriteTransaction) async throws -> String {
        var current = pdu
        for _ in 0..<maxThreadHops {
            guard let relation = current.content["m.relates_to"], let parent = relation["event_id"]?.stringValue else { return "main" }
            if relation["rel_type"]?.stringValue == "m.thread" { return parent }
            guard let next = try await tx.event(id: parent)?.pdu else { return "main" }
            current = next
        }
        return "main"
    }
}
