import AxonStorage
import MatrixModel

/// Read receipts (spec "Receipts"): public `m.read` to every member, `m.read.private` to its
/// owner only, optionally per thread.
extension ServerContext {
    func registerReceiptRoutes(on routes: RouteTable) {
        routes.client(.post, "/rooms/{roomId}/receipt/{receiptType}/{eventId}") { request in
            let roomID = try roomIDParameter(request)
            let type = request.parameter("receiptType")
            let body = try request.jsonObject()
            let threadID = try body.optionalString("thread_id")
            switch type {
            case "m.read", "m.read.private":
                try await sendReceipt(request, roomID: roomID, type: type, eventID: request.parameter("eventId"), threadID: threadID)
            case "m.fully_read":
                guard threadID == nil else { throw MatrixError.invalidParam("m.fully_read cannot be threaded") }
                _ = try await rooms.visibleEvent(roomID: roomID, eventID: request.parameter("eventId"), userID: request.user.userID)
                try await setAccountData(
                    userID: request.user.userID, roomID: roomID, type: "m.fully_read",
                    content: ["event_id": .string(request.parameter("eventId"))])
            default:
                throw MatrixError.invalidParam("Unknown receipt type \(type)")
            }
            return .empty
        }
    }

    func sendReceipt(_ request: MatrixRequest, roomID: String, type: String, eventID: String, threadID: String?) async throws {
        let userID = request.user.userID
        guard try await storage.membership(roomID: roomID, userID: userID)?.membership == "join" else {
            throw MatrixError.forbidden("You are not in this room")
        }
        if let threadID, threadID != "main", EventID(threadID) == nil {
            throw MatrixError.invalidParam("thread_id must be 'main' or an event ID")
        }
        _ = try await rooms.visibleEvent(roomID: roomID, eventID: eventID, userID: userID)
        let position = try await storage.setReceipt(
            Receipt(roomID: roomID, userID: userID, type: type, threadID: threadID, eventID: eventID, timestamp: nowMillis()))
        if type == "m.read.private" {
            notifier.userChanged(userID, position: position)
        } else {
            notifier.roomChanged(roomID, position: position)
            var data: JSONObject = ["ts": .int(nowMillis())]
            if let threadID { data["thread_id"] = .string(threadID) }
            let receipt: JSON = ["m.read": [.init(stringLiteral: userID): ["event_ids": [.string(eventID)], "data": .object(data)]]]
            try await sendEDU("m.receipt", content: [.init(stringLiteral: roomID): receipt], roomID: roomID)
        }
    }
}
