import Testing

@testable import MatrixModel

/// A room grown as a DAG: each event's state before it is the resolution of the states after
/// its `prev_events` (with the resolver under test), and its `auth_events` are selected from
/// that state as the server-server spec says. The scenarios are the classic forks that state
/// resolution v2 was designed around, told again here.
struct ForkedRoom {
    static let alice = "@alice:hs", bob = "@bob:hs", charlie = "@charlie:hs", evelyn = "@evelyn:hs", zara = "@zara:hs"

    let version: RoomVersion
    var graph = EventGraph(events: [:])
    var stateAfter: [String: StateMap] = [:]
    var clock: Int64 = 0
    var roomID: String { version.roomIDIsCreateEventHash ? "!CREATE:hs" : "!room:hs" }

    init(version: RoomVersion) {
        self.version = version
        var create: JSONObject = ["room_version": .string(version.identifier)]
        if version.createEventHasCreator { create["creator"] = .string(Self.alice) }
        add("CREATE", Self.alice, "m.room.create", "", .object(create), prev: [])
        add("IMA", Self.alice, "m.room.member", Self.alice, ["membership": "join"], prev: ["CREATE"])
        add("IPOWER", Self.alice, "m.room.power_levels", "", powerLevels([Self.alice: 100]), prev: ["IMA"])
        add("IJR", Self.alice, "m.room.join_rules", "", ["join_rule": "public"], prev: ["IPOWER"])
        add("IMB", Self.bob, "m.room.member", Self.bob, ["membership": "join"], prev: ["IJR"])
        add("IMC", Self.charlie, "m.room.member", Self.charlie, ["membership": "join"], prev: ["IMB"])
        add("IMZ", Self.zara, "m.room.member", Self.zara, ["membership": "join"], prev: ["IMC"])
    }

    /// Power levels content; v12 creators hold infinite power and are not listed.
    func powerLevels(_ users: [String: Int64], extra: JSONObject = [:]) -> JSON {
        var listed = JSONObject()
        for (user, level) in users.sorted(by: { $0.key < $1.key }) where !(version.creatorsHaveInfinitePower && user == Self.alice) {
            listed[user] = .int(level)
        }
        var content = extra
        content["users"] = .object(listed)
        return .object(content)
    }

    static func id(_ name: String) -> String { "$\(name):hs" }

    func stateBefore(_ prev: [String]) -> StateMap {
        StateResolution.resolve(prev.map { stateAfter[Self.id($0)]! }, graph: graph, version: version)
    }

    mutating func add(_ name: String, _ sender: String, _ type: String, _ stateKey: String?, _ content: JSON, prev: [String]) {
        let before = stateBefore(prev)
        var authKeys = AuthRules.authEventKeys(type: type, sender: sender, stateKey: stateKey, content: content, version: version)
        if type == "m.room.create" { authKeys = [] }
        let auth = authKeys.compactMap { before[$0] }
        clock += 1
        var json: JSONObject = [
            "type": .string(type), "sender": .string(sender), "content": content, "origin_server_ts": .int(clock),
            "depth": .int((prev.compactMap { graph[Self.id($0)]?.depth }.max() ?? 0) + 1),
            "prev_events": .array(prev.map { .string(Self.id($0)) }), "auth_events": .array(auth.map(JSON.string)),
        ]
        if let stateKey { json["state_key"] = .string(stateKey) }
        if !(type == "m.room.create" && version.roomIDIsCreateEventHash) { json["room_id"] = .string(roomID) }
        let id = Self.id(name)
        graph.events[id] = PDU(eventID: id, json: json)
        var after = before
        if let stateKey { after[StateKey(type, stateKey)] = id }
        stateAfter[id] = after
    }

    /// The state at a new event whose prev_events are `heads`.
    func resolved(_ heads: [String]) -> StateMap { stateBefore(heads) }
}

@Suite struct StateResolutionTests {
    static let v2Versions = ["2", "6", "10", "11", "12"]
    typealias R = ForkedRoom

    @Test(arguments: v2Versions)
    func aBanBeatsAConcurrentPowerLevelsChangeByTheBanned(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("PA", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["IMZ"])
        room.add("MA", R.alice, "m.room.member", R.alice, ["membership": "join", "displayname": "A"], prev: ["PA"])
        room.add("MB", R.alice, "m.room.member", R.bob, ["membership": "ban"], prev: ["MA"])
        room.add("PB", R.bob, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["PA"])
        let state = room.resolved(["MB", "PB"])
        #expect(state[.powerLevels] == R.id("PA"))
        #expect(state[.member(R.alice)] == R.id("MA"))
        #expect(state[.member(R.bob)] == R.id("MB"))
    }

    @Test(arguments: v2Versions)
    func aJoinConcurrentWithClosingTheRoomDoesNotGetIn(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("JR", R.alice, "m.room.join_rules", "", ["join_rule": "invite"], prev: ["IMZ"])
        room.add("ME", R.evelyn, "m.room.member", R.evelyn, ["membership": "join"], prev: ["IMZ"])
        let state = room.resolved(["JR", "ME"])
        #expect(state[.joinRules] == R.id("JR"))
        #expect(state[.member(R.evelyn)] == nil)
    }

    @Test(arguments: v2Versions)
    func powerGrantedAlongOneBranchCounts(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("PA", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["IMZ"])
        room.add("PB", R.bob, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50, R.charlie: 50]), prev: ["PA"])
        room.add("PC", R.charlie, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50, R.charlie: 0]), prev: ["PB"])
        #expect(room.resolved(["PC", "PA"])[.powerLevels] == R.id("PC"))
    }

    @Test(arguments: v2Versions)
    func aTopicFromADemotedUserLoses(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("T1", R.alice, "m.room.topic", "", ["topic": "1"], prev: ["IMZ"])
        room.add("PA1", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["T1"])
        room.add("T2", R.alice, "m.room.topic", "", ["topic": "2"], prev: ["PA1"])
        room.add("PA2", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 0]), prev: ["T2"])
        room.add("PB", R.bob, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["PA1"])
        room.add("T3", R.bob, "m.room.topic", "", ["topic": "3"], prev: ["PB"])
        let state = room.resolved(["PA2", "T3"])
        #expect(state[.powerLevels] == R.id("PA2"))
        #expect(state[StateKey("m.room.topic", "")] == R.id("T2"))
    }

    @Test(arguments: v2Versions)
    func aBanAlsoUndoesTheBannedUsersTopic(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("T1", R.alice, "m.room.topic", "", ["topic": "1"], prev: ["IMZ"])
        room.add("PA", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["T1"])
        room.add("T2", R.bob, "m.room.topic", "", ["topic": "2"], prev: ["PA"])
        room.add("MB", R.alice, "m.room.member", R.bob, ["membership": "ban"], prev: ["T2"])
        let state = room.resolved(["MB", "T1"])
        #expect(state[StateKey("m.room.topic", "")] == R.id("T1"))
        #expect(state[.member(R.bob)] == R.id("MB"))
        #expect(state[.powerLevels] == R.id("PA"))
    }

    @Test(arguments: v2Versions)
    func concurrentJoinRuleChangesResolveByPowerThenTime(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("PA", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 100]), prev: ["IMZ"])
        room.add("JA", R.alice, "m.room.join_rules", "", ["join_rule": "invite"], prev: ["PA"])
        room.add("JB", R.bob, "m.room.join_rules", "", ["join_rule": "public"], prev: ["PA"])
        // Equal power: the earlier sorts first, so the later one is applied last and wins.
        #expect(room.resolved(["JA", "JB"])[.joinRules] == R.id("JB"))
        #expect(room.resolved(["JB", "JA"])[.joinRules] == R.id("JB"))
    }

    @Test(arguments: v2Versions)
    func resolutionIsIndependentOfTheOrderOfStates(version: String) throws {
        var room = ForkedRoom(version: RoomVersion(version)!)
        room.add("PA", R.alice, "m.room.power_levels", "", room.powerLevels([R.alice: 100, R.bob: 50]), prev: ["IMZ"])
        room.add("MB", R.alice, "m.room.member", R.bob, ["membership": "ban"], prev: ["PA"])
        room.add("TB", R.bob, "m.room.topic", "", ["topic": "bob's"], prev: ["PA"])
        room.add("MC", R.charlie, "m.room.member", R.charlie, ["membership": "leave"], prev: ["PA"])
        let orders = [["MB", "TB", "MC"], ["TB", "MC", "MB"], ["MC", "MB", "TB"]]
        let results = orders.map { room.resolved($0) }
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(results[0][.member(R.bob)] == R.id("MB"))
        #expect(results[0][StateKey("m.room.topic", "")] == nil)
        #expect(results[0][.member(R.charlie)] == R.id("MC"))
    }

    @Test func authDifferenceAndConflictedSubgraph() {
        // A ← B ← C (auth edges) with A and C conflicted: B lies between them.
        func event(_ id: String, auth: [String]) -> PDU {
            PDU(eventID: id, json: ["type": "m.room.topic", "state_key": "", "sender": "@a:hs", "auth_events": .array(auth.map(JSON.string))])
        }
        let graph = EventGraph(events: ["A": event("A", auth: []), "B": event("B", auth: ["A"]), "C": event("C", auth: ["B"]), "D": event("D", auth: ["A"])])
        #expect(StateResolutionV2.conflictedSubgraph(["A", "C"], graph: graph) == ["A", "B", "C"])
        #expect(StateResolutionV2.conflictedSubgraph(["C", "D"], graph: graph).isEmpty)
        let key = StateKey("m.room.topic", "")
        #expect(StateResolutionV2.authDifference([[key: "C"], [key: "D"]], graph: graph) == ["B"])
    }

    @Test func version1PicksTheDeeperEventThatPasses() throws {
        var room = ForkedRoom(version: RoomVersion("1")!)
        room.add("T1", R.alice, "m.room.topic", "", ["topic": "1"], prev: ["IMZ"])
        room.add("T2", R.alice, "m.room.topic", "", ["topic": "2"], prev: ["T1"])
        room.add("TB", R.bob, "m.room.topic", "", ["topic": "bob"], prev: ["IMZ"])
        room.add("X", R.alice, "m.room.message", nil, ["body": "deepen"], prev: ["TB"])
        room.add("Y", R.alice, "m.room.message", nil, ["body": "deepen"], prev: ["X"])
        // TB is shallower than T2 and would fail anyway (bob has no power for state).
        #expect(room.resolved(["T2", "Y"])[StateKey("m.room.topic", "")] == R.id("T2"))
        // Memberships: whichever of the two sorts first, the ban stands (a banned user
        // cannot leave, and the admin may ban someone who left).
        room.add("MB", R.alice, "m.room.member", R.bob, ["membership": "ban"], prev: ["IMZ"])
        room.add("LB", R.bob, "m.room.member", R.bob, ["membership": "leave"], prev: ["IMZ"])
        let members = room.resolved(["MB", "LB"])
        #expect(members[.member(R.bob)] == R.id("MB"))
        #expect(members[.powerLevels] == R.id("IPOWER"))
    }
}
