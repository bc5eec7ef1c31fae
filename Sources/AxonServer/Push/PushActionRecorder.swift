import AxonStorage
import MatrixModel
import NIOPosix

/// Runs every room member's push rules against a new event, and stores the notifying
/// outcomes inside the event's own write transaction (spec "Server behaviour": the new count
/// must arrive in the same /sync as the event). The pusher delivery reads them after commit.
///
/// Evaluation is CPU work proportional to members × rules × body: for sends it is decided
/// before the room's write transaction, on NIO's thread pool for big rooms, so that no
/// user's rules hold the write lock or a cooperative thread (`PushRuleSet.workBudget`
/// bounds each member's share).
enum PushActionRecorder {
    /// Relations followed to find an event's thread (the spec recommends at most 3 hops).
    static let maxThreadHops = 3
    /// Above this many recipients evaluation leaves the cooperative pool.
    static let offloadThreshold = 16

    /// Each recipient's outcome for one event. When most recipients share one notifying
    /// outcome it is stored once (`shared`), and only the recipients whose outcome differs
    /// are listed (`excluded`) and, when theirs notifies, stored one by one (`actions`).
    struct Decisions: Sendable {
        var actions: [String: PushActions]
        var shared: PushActions?
        var excluded: [String] = []
    }

    /// What evaluating an event for a room needs, read once.
    struct Inputs: Sendable {
        var recipients: [String]
        /// Recipients who are not joined (an invitee): a shared outcome does not reach them.
        var nonMembers: Set<String> = []
        var memberCount: Int
        /// Compiled rules of the recipients who changed theirs; everyone else shares the
        /// server defaults, compiled once (`defaultRules`).
        var ownRules: [String: PushRuleSet]
        var levels: PowerLevels
        var displayNames: [String: String]

        func rules(of user: String) -> PushRuleSet { ownRules[user] ?? PushActionRecorder.defaultRules }
    }

    /// The server-default rules: evaluation reads the user from the context, not the set.
    static let defaultRules = PushRuleSet(userID: "", document: nil)

    /// Decides before the write transaction, from committed state: `event` is the event as
    /// it will be sent (type, sender, content, state_key, room_id).
    static func decide(event: JSONObject, roomID: String, version: RoomVersion, storage: any Storage, localServer: String) async throws -> Decisions {
        let members = try await storage.members(roomID: roomID, membership: "join").map(\.userID).filter { isLocal($0, localServer) }
        let inputs = try await Self.inputs(
            event: event, members: members, version: version, rules: { try await storage.pushRules(for: $0) },
            state: { try await storage.currentStateEvent(roomID: roomID, key: $0) })
        guard inputs.recipients.count > offloadThreshold else { return evaluate(event, inputs) }
        return try await NIOThreadPool.singleton.runIfActive { evaluate(event, inputs) }
    }

    /// Decides and records inside the transaction (room creation and upgrades, whose rooms
    /// have only their first few members).
    static func record(
        _ event: StoredEvent, state: [StateKey: PDU], version: RoomVersion, localServer: String, in tx: any RoomWriteTransaction
    ) async throws {
        let members = try await tx.joinedMembers().filter { isLocal($0, localServer) }
        let inputs = try await Self.inputs(
            event: event.pdu.json, members: members, version: version, rules: { try await tx.pushRules(for: $0) },
            state: { key in
                if let known = state[key] { return known }
                return try await tx.currentStateEvent(key)
            })
        try await record(event, decisions: evaluate(event.pdu.json, inputs), in: tx)
    }

    /// Stores decided outcomes for the persisted event.
    /// Only this server's users are notified here; remote members' servers do their own.
    static func isLocal(_ userID: String, _ server: String) -> Bool {
        UserID(userID)?.server.value == server
    }

    static func record(_ event: StoredEvent, decisions: Decisions, in tx: any RoomWriteTransaction) async throws {
        guard !decisions.actions.isEmpty || decisions.shared != nil else { return }
        let threadID = try await thread(of: event.pdu, in: tx)
        let records = decisions.actions.sorted { $0.key < $1.key }.map { user, actions in
            PushActionRecord(
                userID: user, eventID: event.pdu.eventID, threadID: threadID, highlight: actions.highlights,
                actions: .array(actions.actions))
        }
        try await tx.addPushActions(records, for: event)
        if let shared = decisions.shared {
            try await tx.addSharedPushAction(
                SharedPushAction(threadID: threadID, highlight: shared.highlights, actions: .array(shared.actions)),
                excluding: decisions.excluded, for: event)
        }
    }

    private static func inputs(
        event: JSONObject, members: [String], version: RoomVersion,
        rules: ([String]) async throws -> [String: JSONObject], state: (StateKey) async throws -> PDU?
    ) async throws -> Inputs {
        let sender = event["sender"]?.stringValue ?? ""
        var recipients = members.filter { $0 != sender }
        var nonMembers = Set<String>()
        // An invitee is not a member yet, but `.m.rule.invite_for_me` is for them.
        if event["type"] == "m.room.member", event["content"]?["membership"] == "invite",
            let invitee = event["state_key"]?.stringValue, invitee != sender, !recipients.contains(invitee)
        {
            recipients.append(invitee)
            nonMembers.insert(invitee)
        }
        guard !recipients.isEmpty else {
            return Inputs(recipients: [], memberCount: members.count, ownRules: [:], levels: PowerLevels(content: nil, create: nil, version: version), displayNames: [:])
        }
        let ownRules = try await rules(recipients).mapValues { PushRuleSet(userID: "", document: $0) }
        let levels = PowerLevels(content: try await state(.powerLevels)?.content, create: try await state(.create), version: version)
        var displayNames: [String: String] = [:]
        for (user, rules) in ownRules where rules.usesDisplayName {
            displayNames[user] = try await state(.member(user))?.content["displayname"]?.stringValue
        }
        return Inputs(
            recipients: recipients, nonMembers: nonMembers, memberCount: members.count, ownRules: ownRules, levels: levels,
            displayNames: displayNames)
    }

    /// Below this many members sharing an outcome, storing it per member is as cheap.
    static let sharedThreshold = 2

    static func evaluate(_ event: JSONObject, _ inputs: Inputs) -> Decisions {
        let senderLevel = inputs.levels.userLevel(event["sender"]?.stringValue ?? "")
        var outcomes: [String: PushActions] = [:]
        for user in inputs.recipients {
            let context = PushEvaluationContext(
                userID: user, displayName: inputs.displayNames[user], memberCount: inputs.memberCount, senderPowerLevel: senderLevel,
                notificationLevels: inputs.levels.notifications)
            if let actions = inputs.rules(of: user).evaluate(event, context: context), actions.notifies {
                outcomes[user] = actions
            }
        }
        // The most common notifying outcome among members. Distinct outcomes are few (the
        // defaults, a mention, a muted room), so they are compared, not hashed.
        var tally: [(actions: PushActions, count: Int)] = []
        for (user, actions) in outcomes where !inputs.nonMembers.contains(user) {
            if let index = tally.firstIndex(where: { $0.actions == actions }) {
                tally[index].count += 1
            } else {
                tally.append((actions, 1))
            }
        }
        guard let common = tally.max(by: { $0.count < $1.count }), common.count >= sharedThreshold else {
            return Decisions(actions: outcomes)
        }
        let shared = common.actions
        var own: [String: PushActions] = [:]
        var excluded: [String] = []
        for user in inputs.recipients {
            let outcome = outcomes[user]
            if outcome == shared, !inputs.nonMembers.contains(user) { continue }
            if let outcome { own[user] = outcome }
            if !inputs.nonMembers.contains(user) { excluded.append(user) }
        }
        return Decisions(actions: own, shared: shared, excluded: excluded.sorted())
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
