import AxonStorage
import MatrixModel

/// Ephemeral events of local users for the other servers in a room (typing notices, public
/// read receipts), through the same durable queue as PDUs.
extension ServerContext {
    func sendEDU(_ type: String, content: JSON, roomID: String) async throws {
        let servers = Set(try await storage.members(roomID: roomID, membership: "join").compactMap { UserID($0.userID)?.server.value })
            .subtracting([serverName.value])
        guard !servers.isEmpty else { return }
        try await storage.enqueueOutbound(
            destinations: servers.sorted(), eventID: nil, edu: ["edu_type": .string(type), "content": content], now: nowMillis())
        federation.sender.wake()
    }
}
