import AxonStorage
import ServiceLifecycle

/// Every ten minutes, deletes what has expired: abandoned user-interactive-auth sessions,
/// login tokens, long-revoked refresh tokens, OAuth and SSO flows nobody finished, idle web
/// sessions and email validations.
struct UIASessionSweeper: Service {
    let storage: any Storage
    /// How long a replaced refresh token is remembered, so that its reuse ends the session.
    static let reuseDetectionMs: Int64 = 30 * 24 * 3600 * 1000

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    let now = nowMillis()
                    try? await storage.deleteUIASessions(olderThan: now - UserInteractiveAuth.sessionLifetimeMs)
                    try? await storage.deleteExpiredSessionTokens(now: now, revokedBefore: now - Self.reuseDetectionMs)
                    try? await storage.deleteSSOAttempts(olderThan: now - ServerContext.ssoAttemptLifetimeMs)
                    try? await storage.deleteThreePIDValidations(expiredBefore: now)
                    try? await storage.deleteExpiredOAuthState(
                        requestsBefore: now - ServerContext.authorizationRequestLifetimeMs, sessionsIdleBefore: now - ServerContext.webSessionIdleMs)
                    try await Task.sleep(for: .seconds(600))
                }
            }
        } catch is CancellationError {}
    }
}
