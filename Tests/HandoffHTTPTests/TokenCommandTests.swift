import Foundation
import HandoffService
import HandoffTestSupport
import Postgres
import Testing

/// `handoff tokens` and `handoff serve` as users script them.
@Suite("handoff tokens and serve on the command line")
struct TokenCommandTests {
    func environment(_ database: TestDatabase) -> [String: String] {
        [
            "DATABASE_URL": database.connectionString, "HANDOFF_WORKFLOWS": Repository.workflows.path,
            "HANDOFF_MIGRATIONS": Repository.migrations.path,
        ]
    }

    @Test func createPrintsTheTokenOnceListNeverShowsItAndRevokeEndsIt() async throws {
        let database = try await TestDatabase.make()
        let env = environment(database)
        let created = try await HandoffProcess.run(
            ["tokens", "create", "--name", "alice", "--role", "customer_admin", "--role", "customer_admin"],
            environment: env)
        #expect(created.status == 0, "\(created.stderr)")
        let token = created.stdout.trimmingCharacters(in: .newlines)
        #expect(token.hasPrefix("hnd_") && token.count >= 4 + 43, "at least 256 bits: \(token)")
        #expect(created.stdout == token + "\n", "the token alone on stdout")
        let stored = try await database.column("SELECT token_hash FROM api_tokens WHERE name = 'alice'")
        #expect(stored.count == 1)
        #expect(stored.first??.contains(token) == false, "only a hash is stored")

        let json = try await HandoffProcess.run(
            ["tokens", "create", "--name", "pat", "--role", "partner_integration_manager", "--expires", "30d", "--json"],
            environment: env)
        #expect(json.status == 0, "\(json.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(document?["name"] as? String == "pat")
        #expect(document?["roles"] as? [String] == ["partner_integration_manager"])
        #expect((document?["token"] as? String)?.hasPrefix("hnd_") == true)
        #expect(document?["expiresAt"] is String)

        let list = try await HandoffProcess.run(["tokens", "list"], environment: env)
        #expect(list.status == 0)
        #expect(list.stdout.hasPrefix("NAME"))
        #expect(list.stdout.contains("alice") && list.stdout.contains("customer_admin"))
        #expect(!list.stdout.contains(token), "list never shows a secret")
        let listJSON = try await HandoffProcess.run(["tokens", "list", "--json"], environment: env)
        #expect(!listJSON.stdout.contains("hnd_"))

        let revoked = try await HandoffProcess.run(["tokens", "revoke", "alice"], environment: env)
        #expect(revoked.status == 0, "\(revoked.stderr)")
        let engine = Engine(pool: database.pool, workflows: WorkflowLibrary(folder: Repository.workflows))
        await #expect(throws: EngineError(.unauthorized, "the bearer token is unknown, revoked or expired")) {
            _ = try await engine.authenticate(token: token)
        }
        let again = try await HandoffProcess.run(["tokens", "create", "--name", "alice", "--role", "admin"], environment: env)
        #expect(again.status == 0, "a revoked token's name is free again: \(again.stderr)")
    }

    @Test func badTokenCommandsAreCodedErrorsAndWriteNothing() async throws {
        let database = try await TestDatabase.make()
        let env = environment(database)
        _ = try await HandoffProcess.run(["tokens", "create", "--name", "alice", "--role", "admin"], environment: env)
        let cases: [([String], String)] = [
            (["tokens", "create", "--name", "alice", "--role", "admin"], "error: already_exists: "),
            (["tokens", "create", "--name", "bob"], "error: invalid_input: "),
            (["tokens", "create", "--name", "", "--role", "admin"], "error: invalid_input: "),
            (["tokens", "create", "--name", "eve\nmallory", "--role", "admin"], "error: invalid_input: "),
            (["tokens", "create", "--name", "eve\u{202E}", "--role", "admin"], "error: invalid_input: "),
            (["tokens", "create", "--name", "bob", "--role", "bad role"], "error: invalid_input: "),
            (["tokens", "create", "--name", "bob", "--role", "admin", "--expires", "soon"], "error: invalid_input: --expires"),
            (["tokens", "create", "--name", "bob", "--role", "admin", "--expires", "0d"], "error: invalid_input: --expires"),
            (["tokens", "revoke", "nobody"], "error: not_found: "),
        ]
        let before = try await database.column("SELECT count(*) FROM api_tokens")
        for (arguments, prefix) in cases {
            let outcome = try await HandoffProcess.run(arguments, environment: env)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stdout.isEmpty, "\(arguments)")
            #expect(outcome.stderr.hasPrefix(prefix), "\(arguments): \(outcome.stderr)")
        }
        #expect(try await database.column("SELECT count(*) FROM api_tokens") == before)
    }

    @Test func serveRefusesABadPortAndADatabaseThatIsNotThere() async throws {
        let database = try await TestDatabase.make()
        var env = environment(database)
        env["HANDOFF_PORT"] = "eighty"
        let badPort = try await HandoffProcess.run(["serve"], environment: env)
        #expect(badPort.status == 1)
        #expect(badPort.stderr.hasPrefix("error: invalid_input: HANDOFF_PORT"), "\(badPort.stderr)")

        env["HANDOFF_PORT"] = "0"
        env["DATABASE_URL"] = "host=127.0.0.1 port=\(try LocalCluster.freeLoopbackPort()) dbname=handoff connect_timeout=2"
        let noDatabase = try await HandoffProcess.run(["serve"], environment: env)
        #expect(noDatabase.status == 1)
        #expect(noDatabase.stderr.contains("error: database_unavailable: "), "\(noDatabase.stderr)")
    }
}
