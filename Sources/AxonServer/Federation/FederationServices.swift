import AxonStorage
import Logging
import MatrixModel

/// What federation routes, and client routes that reach other servers, share.
struct FederationServices: Sendable {
    let client: FederationClient
    let keys: KeyRing
    let authenticator: FederationAuthenticator
    let sender: FederationSender

    init(config: AxonConfig, serverName: ServerName, signingKey: SigningKey, storage: any Storage, logger: Logger) {
        client = FederationClient(serverName: serverName, signingKey: signingKey, config: config, logger: logger)
        keys = KeyRing(storage: storage, client: client, notaries: config.trustedKeyServers, logger: logger)
        authenticator = FederationAuthenticator(serverName: serverName.value, keys: keys, whitelist: config.federationDomainWhitelist)
        sender = FederationSender(storage: storage, client: client, logger: logger)
    }
}
