import AxonStorage
import MatrixModel

/// The client format of an event (spec "Room Event Format"): what clients see, with
/// `unsigned` filled for the viewer.
enum ClientEventFormat {
    static func json(_ event: StoredEvent, viewer: TokenOwner?, version: RoomVersion?, now: Int64 = nowMillis()) -> JSON {
        let pdu = event.pdu
        var object: JSONObject = [
            "content": pdu.content,
            "event_id": .string(pdu.eventID),
            "origin_server_ts": .int(pdu.originServerTS),
            "room_id": .string(event.roomID),
            "sender": .string(pdu.sender),
            "type": .string(pdu.type),
        ]
        if let stateKey = pdu.stateKey { object["state_key"] = .string(stateKey) }
        if pdu.type == "m.room.redaction", let redacts = pdu.redacts {
            // Both places, for old and new clients alike (room v11 spec, "Event format").
            object["redacts"] = .string(redacts)
            var content = pdu.content.objectValue ?? [:]
            content["redacts"] = .string(redacts)
            object["content"] = .object(content)
        }
        var unsigned: JSONObject = ["age": .int(max(0, now - pdu.originServerTS))]
        let stored = pdu.json["unsigned"]
        if let previous = stored?["prev_content"] { unsigned["prev_content"] = previous }
        if let previousSender = stored?["prev_sender"] { unsigned["prev_sender"] = previousSender }
        if let replaces = stored?["replaces_state"] { unsigned["replaces_state"] = replaces }
        if let redactedBecause = stored?["redacted_because"] { unsigned["redacted_because"] = redactedBecause }
        if let viewer, let transactionID = event.transactionID, event.senderDevice == viewer.deviceID,
            pdu.sender == viewer.userID
        {
            unsigned["transaction_id"] = .string(transactionID)
        }
        object["unsigned"] = .object(unsigned)
        return .object(object)
    }

    /// Stripped state for invites and knocks: type, state_key, sender, content only.
    static func stripped(_ pdu: PDU) -> JSON {
        [
            "type": .string(pdu.type), "state_key": .string(pdu.stateKey ?? ""), "sender": .string(pdu.sender),
            "content": pdu.content,
        ]
    }
}
