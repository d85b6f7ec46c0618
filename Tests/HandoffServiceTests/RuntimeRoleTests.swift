import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

/// A login of this test run that is a member of `handoff_runtime`, as Handoff's processes log in.
func runtimeLogin(for database: TestDatabase) async throws -> ConnectionConfiguration {
    let user = "handoff_test_runtime"
    let password = "runtime-\(getpid())"
    try await database.pool.withConnection { connection in
        try connection.execute(
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(user)') THEN
                    CREATE ROLE \(user) LOGIN IN ROLE handoff_runtime;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- made meanwhile by a test running beside this one
            END
            $$;
            ALTER ROLE \(user) PASSWORD '\(password)'
            """)
    }
    var configuration = database.configuration
    let base = configuration.connectionString
    if base.contains("://"), var components = URLComponents(string: base) {
        components.user = user
        components.password = password
        configuration = ConnectionConfiguration(components.string ?? base, database: database.name)
    } else {
        configuration = ConnectionConfiguration(base + " user=\(user) password=\(password)", database: database.name)
    }
    return configuration
}

@Suite("The runtime role owns nothing")
struct RuntimeRoleTests {
    @Test func theRuntimeRoleCannotUpdateDeleteTruncateAlterOrDisableTriggersOnEvents() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "r1", actor: "sam")
        let login = try await runtimeLogin(for: fixture.database)
        let connection = try Connection(login)
        let before = try await fixture.database.column("SELECT count(*) || ':' || max(type) FROM events")
        for statement in [
            "UPDATE events SET type = 'Forged'",
            "DELETE FROM events",
            "TRUNCATE events",
            "ALTER TABLE events DISABLE TRIGGER events_immutable",
            "ALTER TABLE events DISABLE TRIGGER ALL",
            "DROP TRIGGER events_immutable ON events",
            "DROP TABLE events",
            "UPDATE workflow_definitions SET source = ''",
            "DELETE FROM workflow_definitions",
            "CREATE TABLE intruder (id int)",
        ] {
            let error = #expect(throws: PostgresError.self, "\(statement)") { try connection.execute(statement) }
            #expect(["42501", "42P01"].contains(error?.sqlState ?? ""), "\(statement): \(String(describing: error))")
        }
        #expect(try await fixture.database.column("SELECT count(*) || ':' || max(type) FROM events") == before)
    }

    @Test func anEngineLoggedInAsTheRuntimeRoleRunsBothMailSendPathsRebuildsVerifiesAndKeepsTokens() async throws {
        let fixture = try await Fixture.make()
        let login = try await runtimeLogin(for: fixture.database)
        let pool = ConnectionPool(login, maximumConnections: 4)
        defer { pool.close() }
        let engine = Engine(pool: pool, workflows: WorkflowLibrary(folder: Repository.workflows))
        for (id, path) in [("std", "standard"), ("only", "mail_send_only")] {
            _ = try await engine.start(workflow: "mail-send", inputs: ["company": "Contoso", "path": .string(path)], id: id, actor: "sam")
            try await drive(engine, id)
            #expect(try await engine.onboarding(id).state == "completed")
        }
        _ = try await engine.rebuildProjections()
        let report = try await engine.verify()
        #expect(report.problems == [])
        _ = try await engine.createToken(name: "bot", roles: ["admin"])
        try await engine.revokeToken(name: "bot")
        #expect(try await engine.tokens().first?.name == "bot")
    }
}
