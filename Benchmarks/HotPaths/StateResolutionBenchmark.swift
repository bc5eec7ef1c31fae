import MatrixModel

/// Two forks of a 1,000-member room for state resolution: on one side the admin changes power
/// levels and bans 50 members, on the other 50 members leave, 50 new ones join and the topic
/// changes. Built as a real auth DAG, each event citing the auth events of its state.
struct ForkedLargeRoom {
    let version = RoomVersion("10")!
    var graph = EventGraph(events: [:])
    var counter = 0
    let admin = "@admin:hs"

    mutating func add(_ type: String, _ sender: String, _ stateKey: String?, _ content: JSON, state: inout StateMap, prev: String?) -> String {
        counter += 1
        let id = "$e\(counter):hs"
        let auth = type == "m.room.create"
            ? [] : AuthRules.authEventKeys(type: type, sender: sender, stateKey: stateKey, content: content, version: version).compactMap { state[$0] }
        var json: JSONObject = [
            "type": .string(type), "sender": .string(sender), "content": content, "room_id": "!room:hs",
            "origin_server_ts": .int(Int64(counter)), "depth": .int(Int64(counter)),
            "prev_events": .array(prev.map { [.string($0)] } ?? []), "auth_events": .array(auth.map(JSON.string)),
        ]
        if let stateKey { json["state_key"] = .string(stateKey) }
        graph.events[id] = PDU(eventID: id, json: json)
        if let stateKey { state[StateKey(type, stateKey)] = id }
        return id
    }

    /// The two states to resolve.
    static func make() -> (ForkedLargeRoom, [StateMap]) {
        var room = ForkedLargeRoom()
        var state = StateMap()
        var head = room.add("m.room.create", room.admin, "", ["creator": .string(room.admin), "room_version": "10"], state: &state, prev: nil)
        head = room.add("m.room.member", room.admin, room.admin, ["membership": "join"], state: &state, prev: head)
        head = room.add("m.room.power_levels", room.admin, "", ["users": [.init(stringLiteral: room.admin): 100]], state: &state, prev: head)
        head = room.add("m.room.join_rules", room.admin, "", ["join_rule": "public"], state: &state, prev: head)
        for index in 0..<1000 {
            head = room.add("m.room.member", "@u\(index):hs", "@u\(index):hs", ["membership": "join"], state: &state, prev: head)
        }
        let base = head
        var forkA = state
        var headA = room.add(
            "m.room.power_levels", room.admin, "", ["users": [.init(stringLiteral: room.admin): 100, "@u1:hs": 50]], state: &forkA, prev: base)
        for index in 900..<950 {
            headA = room.add("m.room.member", room.admin, "@u\(index):hs", ["membership": "ban"], state: &forkA, prev: headA)
        }
        var forkB = state
        var headB = room.add("m.room.topic", "@u1:hs", "", ["topic": "fork B"], state: &forkB, prev: base)
        for index in 920..<970 {
            headB = room.add("m.room.member", "@u\(index):hs", "@u\(index):hs", ["membership": "leave"], state: &forkB, prev: headB)
        }
        for index in 1000..<1050 {
            headB = room.add("m.room.member", "@u\(index):hs", "@u\(index):hs", ["membership": "join"], state: &forkB, prev: headB)
        }
        _ = (headA, headB)
        return (room, [forkA, forkB])
    }
}
