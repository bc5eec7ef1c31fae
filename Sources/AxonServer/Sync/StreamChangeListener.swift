import AxonStorage
import ServiceLifecycle

/// Wakes this process's long-polls for writes made by other Axon processes on the same
/// database (PostgreSQL LISTEN/NOTIFY); a no-op on SQLite.
struct StreamChangeListener: Service {
    let storage: any Storage
    let notifier: Notifier
    /// What this node last wrote of each user's presence, forgotten when the user changes.
    let presence: RecentPresence

    func run() async throws {
        let notifier = self.notifier
        let presence = self.presence
        do {
            try await cancelWhenGracefulShutdown {
                try await storage.listenForChanges { change in
                    switch change {
                    case .room(let roomID, let position): notifier.roomChanged(roomID, position: position)
                    case .user(let userID, let position):
                        presence.userChanged(userID, position: position)
                        notifier.userChanged(userID, position: position)
                    }
                }
            }
        } catch is CancellationError {}
        // A service that returns early stops the whole server: backends with nothing to listen
        // to (SQLite) return at once, so stay until shutdown.
        try? await gracefulShutdown()
    }
}
