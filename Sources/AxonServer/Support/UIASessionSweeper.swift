import AxonStorage
import ServiceLifecycle

/// Deletes abandoned user-interactive-auth sessions and shared-secret nonces every ten minutes.
struct UIASessionSweeper: Service {
    let storage: any Storage

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try? await storage.deleteUIASessions(olderThan: nowMillis() - UserInteractiveAuth.sessionLifetimeMs)
                    try await Task.sleep(for: .seconds(600))
                }
            }
        } catch is CancellationError {}
    }
}
