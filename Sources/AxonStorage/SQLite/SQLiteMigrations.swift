import GRDB

/// Versioned schema migrations. Never edit a registered migration: add a new one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001_accounts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        user_id TEXT PRIMARY KEY NOT NULL,
                        user_id_lower TEXT NOT NULL,
                        password_hash TEXT,
                        is_admin INTEGER NOT NULL DEFAULT 0,
                        is_guest INTEGER NOT NULL DEFAULT 0,
                        deactivated INTEGER NOT NULL DEFAULT 0,
                        created_ts INTEGER NOT NULL,
                        profile TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE INDEX users_lower ON users(user_id_lower);
                    CREATE TABLE generated_user_numbers (
                        id INTEGER PRIMARY KEY AUTOINCREMENT
                    );
                    CREATE TABLE devices (
                        user_id TEXT NOT NULL REFERENCES users(user_id),
                        device_id TEXT NOT NULL,
                        display_name TEXT,
                        last_seen_ip TEXT,
                        last_seen_ts INTEGER,
                        created_ts INTEGER NOT NULL,
                        PRIMARY KEY (user_id, device_id)
                    );
                    CREATE TABLE access_tokens (
                        token_hash TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        created_ts INTEGER NOT NULL,
                        FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
                    );
                    CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);
                    CREATE TABLE uia_sessions (
                        session_id TEXT PRIMARY KEY NOT NULL,
                        operation TEXT NOT NULL,
                        user_id TEXT,
                        completed TEXT NOT NULL,
                        created_ts INTEGER NOT NULL
                    );
                    """)
        }
        return migrator
    }
}
