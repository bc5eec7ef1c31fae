import MatrixModel

/// Writes an engine response in the shape the request came in: Synapse's unstable one
/// (list `ops`, `invite_state`, unread counts, `unstable_expanded_timeline`) or the merged
/// MSC4186 one (list counts only, `stripped_state`, `membership`, `lists`, state stubs).
struct SlidingSyncResponseFormat {
    let shape: SlidingSyncShape

    func json(_ response: SlidingSyncService.Response, pos: String) -> JSON {
        var lists = JSONObject()
        for list in response.lists {
            var body: JSONObject = ["count": .int(Int64(list.count))]
            if shape == .unstable {
                body["ops"] = .array(
                    list.windows.map { window in
                        [
                            "op": "SYNC", "range": [.int(Int64(window.range.lowerBound)), .int(Int64(window.range.upperBound))],
                            "room_ids": .array(window.roomIDs.map(JSON.string)),
                        ]
                    })
            }
            lists[list.name] = .object(body)
        }
        var rooms = JSONObject()
        for room in response.rooms { rooms[room.roomID] = .object(self.room(room)) }
        return ["pos": .string(pos), "lists": .object(lists), "rooms": .object(rooms), "extensions": .object(response.extensions)]
    }

    private func room(_ room: SlidingRoomResult) -> JSONObject {
        var body: JSONObject = ["bump_stamp": .int(room.bumpStamp)]
        if room.initial { body["initial"] = true }
        if shape == .v4 {
            body["membership"] = .string(room.membership)
            if !room.lists.isEmpty { body["lists"] = .array(room.lists.map(JSON.string)) }
        }
        if let stripped = room.strippedState {
            body[shape == .v4 ? "stripped_state" : "invite_state"] = .array(stripped)
            if let isDM = room.isDM { body["is_dm"] = .bool(isDM) }
            return body
        }
        if let name = room.name { body["name"] = name }
        if let avatar = room.avatar { body["avatar"] = avatar }
        if let heroes = room.heroes { body["heroes"] = .array(heroes) }
        if let isDM = room.isDM { body["is_dm"] = .bool(isDM) }
        if !room.requiredState.isEmpty || room.initial { body["required_state"] = .array(room.requiredState) }
        if let timeline = room.timeline { body["timeline"] = .array(timeline) }
        if let prevBatch = room.prevBatch { body["prev_batch"] = .string(prevBatch) }
        if room.limited { body["limited"] = true }
        if let numLive = room.numLive { body["num_live"] = .int(Int64(numLive)) }
        if room.expandedTimeline { body[shape == .v4 ? "expanded_timeline" : "unstable_expanded_timeline"] = true }
        if let joined = room.joinedCount { body["joined_count"] = .int(Int64(joined)) }
        if let invited = room.invitedCount { body["invited_count"] = .int(Int64(invited)) }
        if let count = room.notificationCount { body["notification_count"] = .int(Int64(count)) }
        if let count = room.highlightCount { body["highlight_count"] = .int(Int64(count)) }
        return body
    }
}
