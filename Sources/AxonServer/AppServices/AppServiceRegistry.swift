import AxonStorage
import MatrixModel

/// The configured application services, checked together (spec: each `id` and `as_token`
/// is unique), and the questions the rest of the server asks of them.
public struct AppServiceRegistry: Sendable {
    public let services: [AppServiceRegistration]
    let serverName: ServerName
    private let byToken: [String: AppServiceRegistration]

    public init(_ services: [AppServiceRegistration], serverName: ServerName) throws(ConfigError) {
        var ids = Set<String>()
        var tokens = Set<String>()
        for service in services {
            guard ids.insert(service.id).inserted else { throw ConfigError("app services: the id '\(service.id)' is used twice") }
            guard tokens.insert(service.asToken).inserted else { throw ConfigError("app services: '\(service.id)' reuses another service's as_token") }
            guard tokens.insert(service.hsToken).inserted else { throw ConfigError("app services: '\(service.id)' reuses a token as its hs_token") }
        }
        self.services = services
        self.serverName = serverName
        byToken = Dictionary(uniqueKeysWithValues: services.map { ($0.asToken, $0) })
    }

    public static func load(_ config: AxonConfig, serverName: ServerName) throws(ConfigError) -> AppServiceRegistry {
        var services: [AppServiceRegistration] = []
        for path in config.appServiceConfigFiles { services.append(try AppServiceRegistration.load(path: path)) }
        return try AppServiceRegistry(services, serverName: serverName)
    }

    func service(asToken: String) -> AppServiceRegistration? { byToken[asToken] }
    func service(id: String) -> AppServiceRegistration? { services.first { $0.id == id } }

    /// The service that holds the user ID in an exclusive namespace, if any.
    func exclusiveOwner(ofUser userID: String) -> AppServiceRegistration? {
        services.first { service in service.sender(on: serverName) == userID || service.users.contains { $0.exclusive && $0.matches(userID) } }
    }

    func exclusiveOwner(ofAlias alias: String) -> AppServiceRegistration? {
        services.first { $0.aliases.contains { $0.exclusive && $0.matches(alias) } }
    }

    /// Refuses a user ID another party's exclusive namespace holds (400 `M_EXCLUSIVE`);
    /// `caller` is the service asking, if one is.
    func checkUserID(_ userID: String, caller: String?) throws(MatrixError) {
        if let owner = exclusiveOwner(ofUser: userID), owner.id != caller {
            throw MatrixError(400, "M_EXCLUSIVE", "\(userID) is reserved by an application service")
        }
    }

    func checkAlias(_ alias: String, caller: String?) throws(MatrixError) {
        if let owner = exclusiveOwner(ofAlias: alias), owner.id != caller {
            throw MatrixError(400, "M_EXCLUSIVE", "\(alias) is reserved by an application service")
        }
    }
}
