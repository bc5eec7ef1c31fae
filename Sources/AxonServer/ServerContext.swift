import AxonStorage
import Logging
import MatrixModel

/// What route handlers share: configuration, storage and the domain services.
struct ServerContext: Sendable {
    let config: AxonConfig
    let serverName: ServerName
    let storage: any Storage
    let accounts: AccountService
    let uia: UserInteractiveAuth
    let signingKey: SigningKey
    let rooms: RoomService
    let notifier: Notifier
    let presence: PresenceService
    let federation: FederationServices
    let appServices: AppServiceRegistry
    let appServiceSender: AppServiceSender
    let logger: Logger
    /// Upstream OpenID Connect providers (`oidc_providers`).
    let oidc: OIDCClient
    let publicRoomCache = PublicRoomCache()

    func requireSelf(_ request: MatrixRequest, userID: String) throws(MatrixError) {
        guard request.user.userID == userID else {
            throw MatrixError.forbidden("Cannot act on behalf of another user")
        }
    }
}
