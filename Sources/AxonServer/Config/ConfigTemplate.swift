extension AxonConfig {
    /// The commented YAML that `axon generate-config` writes.
    public static func template(serverName: String, sharedSecret: String) -> String {
        """
        # Axon homeserver configuration. Every setting can also be given as an AXON_<KEY>
        # environment variable (e.g. AXON_PORT=8448) or a command-line flag; flags win.

        # The domain part of user IDs (@alice:SERVER_NAME). Cannot be changed once users exist.
        server_name: "\(serverName)"

        # Listener. Registration is open by default only while this is a loopback address.
        bind_address: "127.0.0.1"
        port: 8008

        # The URL clients use to reach this server (advertised in /.well-known/matrix/client).
        # public_baseurl: "https://matrix.example.org/"

        # Where the signing key and the SQLite database live.
        data_dir: "./axon-data"

        # The server's Ed25519 signing key. Several nodes of one server must share this file.
        # signing_key_path: "./axon-data/signing.key"

        # Database: a SQLite file ("sqlite:/path/axon.db") or PostgreSQL ("postgres://user:pass@host:5432/axon").
        # Defaults to <data_dir>/axon.db.
        # database: "sqlite:./axon-data/axon.db"
        # PostgreSQL connections per node; nodes together must stay under max_connections.
        # database_max_connections: 40

        # Open registration with a single m.login.dummy step. Unset: open only on loopback.
        # enable_registration: false

        # Registration then also requires one of these tokens (m.login.registration_token).
        # registration_tokens: ["a-long-random-token"]
        # Or require a token admins create with /_synapse/admin/v1/registration_tokens/new.
        # registration_requires_token: false

        # Application services (bridges, bots): their registration files, Synapse's format.
        # app_service_config_files: ["/etc/axon/telegram-registration.yaml"]

        # Allows `POST /register?kind=guest`.
        allow_guest_access: false

        # Admin registration through /_synapse/admin/v1/register (HMAC-SHA1). Keep it secret.
        registration_shared_secret: "\(sharedSecret)"

        # bcrypt work factor for passwords (4-31). Each step doubles the cost of a login.
        bcrypt_cost: 12

        # Token lifetimes. Clients that ask for a refresh token (`refresh_token: true`) get
        # short access tokens; others keep theirs until they log out, unless
        # nonrefreshable_access_token_lifetime_ms is set. Refresh tokens last until used.
        refreshable_access_token_lifetime_ms: 300000
        # refresh_token_lifetime_ms: 2592000000
        # nonrefreshable_access_token_lifetime_ms: 86400000
        # Login tokens (`/login/get_token`, SSO) are single use.
        login_token_lifetime_ms: 120000
        # A signed-in client may sign in another device with `/login/get_token` (after the password).
        login_via_existing_session: true

        # The OAuth 2.0 API (Element X signs up through it): Axon is its own authorisation
        # server, with sign-in, consent and account pages under /_axon/. Set public_baseurl to
        # the https address clients reach. The legacy password login can be turned off.
        oauth_enabled: true
        password_login_enabled: true

        # Sign-in through upstream OpenID Connect providers (m.login.sso), for example:
        # oidc_providers:
        #   - idp_id: corp
        #     idp_name: "Corp SSO"
        #     issuer: "https://sso.example.org/realms/corp"
        #     client_id: axon
        #     client_secret: "..."
        #     scopes: [openid, profile, email]
        #     localpart_claim: preferred_username
        #     allow_existing_users: false
        # sso_redirect_allowlist: ["https://app.element.io/"]

        # Outgoing mail, for confirming email addresses and resetting passwords:
        # email:
        #   smtp_host: smtp.example.org
        #   smtp_port: 587
        #   smtp_security: starttls   # none, starttls or tls
        #   smtp_user: axon
        #   smtp_pass: "..."
        #   notif_from: "Axon <noreply@example.org>"

        # Rate limits: token buckets per client IP (login, registration, refresh) or user (message, login_token).
        rate_limits_enabled: true
        rate_limits:
          login: { per_second: 0.2, burst: 5 }
          registration: { per_second: 0.17, burst: 3 }
          message: { per_second: 2, burst: 20 }
          refresh: { per_second: 0.5, burst: 10 }
          login_token: { per_second: 0.033, burst: 4 }
          web_page: { per_second: 2, burst: 30 }
          email_token: { per_second: 0.05, burst: 5 }

        # Largest request body accepted (bytes); larger ones get 413 M_TOO_LARGE.
        max_request_bytes: 10485760

        # Presence (online/unavailable/offline and status messages), shared with room members.
        presence_enabled: true

        # TURN servers for voice and video calls, with coturn's `static-auth-secret`.
        # turn_uris: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
        # turn_shared_secret: "the coturn static-auth-secret"
        # turn_user_lifetime_seconds: 86400

        # Media: the largest upload (bytes; larger ones get 413 M_TOO_LARGE), and whether the
        # deprecated unauthenticated download endpoints serve anything (the spec's media freeze).
        max_upload_bytes: 52428800
        serve_unauthenticated_media: false

        # Push notifications to mobile apps go through their push gateways. A failed
        # delivery is retried, the first time after push_retry_initial_ms, doubling after.
        push_retry_attempts: 8
        push_retry_initial_ms: 1000
        # Gateways on loopback or private networks are refused unless this is true.
        push_allow_private_addresses: false
        # An extra CA certificate (PEM file) push gateways may be signed by, besides the
        # system's trusted roots.
        # push_ca_file: "/etc/axon/push-ca.pem"
        # Set to false and the server contacts no other host (push gateways, federation).
        outbound_enabled: true

        # Federation. With a certificate and key (PEM), a TLS listener on federation_port
        # serves federation, keys and media; without, serve /_matrix/federation and
        # /_matrix/key behind a TLS-terminating reverse proxy on the main listener.
        # tls_certificate_path: "/etc/axon/fullchain.pem"
        # tls_private_key_path: "/etc/axon/privkey.pem"
        federation_port: 8448
        # Or say exactly which listener serves what (resources: client, federation, keys,
        # media, metrics), as Synapse's listeners do:
        # listeners:
        #   - {port: 8008, bind_address: "127.0.0.1", resources: [client, media, metrics]}
        #   - {port: 8448, bind_address: "0.0.0.0", tls: true, resources: [federation, keys, media]}
        # Only these servers may federate with this one (unset: all).
        # federation_domain_whitelist: ["example.com", "matrix.org"]
        # Servers asked for other servers' keys when those cannot be reached themselves.
        trusted_key_servers: []
        # Public keys of a policy server run for this host, served at
        # /.well-known/matrix/policy_server (unset: that URI answers 404).
        # policy_server_public_keys: {ed25519: "<unpadded base64 key>"}
        # Served at /.well-known/matrix/support (unset: 404).
        # admin_contact: "mailto:admin@example.com"   # or a Matrix user ID
        # support_page: "https://example.com/support"
        # Server notices (the admin API's send_server_notice) come from this local user, in a
        # room of their own with each recipient (unset: off).
        # server_notices_localpart: "notices"
        # server_notices_display_name: "Server Notices"
        # server_notices_room_name: "Server Notices"
        # URL previews fetch the pages users link to. Internal addresses (loopback, private,
        # link-local) are refused unless listed; with _only, nothing outside the list is used.
        url_preview_enabled: true
        # url_preview_ip_range_whitelist: ["192.168.1.0/24"]
        # url_preview_ip_range_whitelist_only: false
        # Nameservers asked for _matrix-fed._tcp SRV records (unset: /etc/resolv.conf's).
        # federation_dns_servers: ["127.0.0.1:53"]
        # An extra CA (PEM) remote servers' certificates may be signed by, besides the system
        # roots; turning verification off is for test networks only.
        # federation_custom_ca_file: "/etc/axon/federation-ca.pem"
        federation_verify_tls: true
        # Internal networks (loopback, private, link-local) are never contacted unless listed
        # here; with federation_ip_range_whitelist_only, nothing outside the list is.
        federation_ip_range_whitelist: []
        federation_ip_range_whitelist_only: false

        # Connections with no complete request, a stalled body, or idle between requests
        # are closed after this many seconds (long polls in progress are not idle).
        idle_timeout_seconds: 30
        # The longest a /sync or /events long poll waits; keep it under a reverse proxy's
        # read timeout.
        max_long_poll_seconds: 300

        # Prometheus metrics at GET /metrics, off by default. With metrics_token set, the
        # scraper sends it as "Authorization: Bearer <token>".
        metrics_enabled: false
        # metrics_token: "a long random string"
        # Memory for the in-memory caches (access tokens, parsed events, room state,
        # memberships, push rules), in MiB, counted in /metrics as axon_cache_*; 0 turns
        # them off. Each node on a shared PostgreSQL keeps its own, kept right by LISTEN/NOTIFY.
        cache_memory_mb: 64

        # Logging: trace, debug, info, notice, warning, error, critical; format text or json.
        log_level: "info"
        log_format: "text"

        """
    }
}
