import AxonStorage
import MatrixModel

/// Ephemeral events of local users for the other servers in a room (typing notices, public
/// read receipts), through the same durable queue as PDUs.
extension ServerContext {
    func sendEDU(_ type: String, content: JSON, roomID: String) async throws {
        let servers = try await storage.joinedServers(roomID: roomID, excluding: serverName.value)
        guard !servers.isEmpty else { return }
        try await storage.enqueueOutbound(
            destinations: servers, eventID: nil, edu: ["edu_type": .string(type), "content": content], now: nowMillis())
        federation.sender.wake()
    }
}
